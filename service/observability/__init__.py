"""Operability (issue #13): request ids, logs, metrics and traces. The lowest layer:
everything above may report through it, and it imports nothing of the service."""
