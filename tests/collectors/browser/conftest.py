"""Fixtures of the frontend tests (tests/frontend_fixtures.py)."""

from tests.frontend_fixtures import (  # noqa: F401 - fixtures are found by name
    browser,
    cache_off,
    compression_off,
    levers_on,
    stuck_server,
)
