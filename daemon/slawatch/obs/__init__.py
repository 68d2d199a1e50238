"""Observability adapters: structured, redacted logging and Prometheus metrics."""
