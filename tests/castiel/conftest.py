"""Fixtures of the frontend tests (tests/frontend_fixtures.py), for `castiel browse`."""

from tests.frontend_fixtures import (  # noqa: F401 - fixtures are found by name
    compression_off,
    levers_on,
    stuck_server,
)
