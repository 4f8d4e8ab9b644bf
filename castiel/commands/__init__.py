"""One module per command group, each with `register(subparsers)`."""

from __future__ import annotations

import argparse
from typing import Any

from castiel import argtypes


def queue_action(
    subparsers: Any, name: str, help_text: str, handler: Any
) -> argparse.ArgumentParser:
    """A subcommand that acts on one queue: `NAME QUEUE [--redis URL]`."""
    action: argparse.ArgumentParser = subparsers.add_parser(
        name, help=help_text, description=help_text
    )
    action.add_argument("queue", metavar="QUEUE", help="queue name")
    action.add_argument(
        "--redis",
        type=argtypes.redis_url,
        metavar="URL",
        help="Redis URL (default $CASTIEL_REDIS_URL)",
    )
    action.set_defaults(handler=handler)
    return action
