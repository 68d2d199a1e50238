"""Intake and evaluation: what the CLI, the HTTP API and the daemon do to accounts and incidents.

Validation rules live in :mod:`slawatch.core`; this layer turns input into rows, keeps the
denormalised columns (status, paused, priority, ``next_check_at``) in step with the event
history, and tells the daemon when something changed.
"""
