"""Configuration: the ``slawatch.toml`` schema, secret references and the loader."""

from slawatch.config.loader import Settings, find_config, load_config

__all__ = ["Settings", "find_config", "load_config"]
