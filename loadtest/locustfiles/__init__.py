"""Locustfiles shipped with Castiel (each runs inside the Locust process only)."""
