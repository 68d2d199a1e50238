"""Rendering notifications: the Jinja2 renderer, its context and channel-specific escaping."""

from slawatch.render.context import build_context, example_context
from slawatch.render.renderer import Renderer

__all__ = ["Renderer", "build_context", "example_context"]
