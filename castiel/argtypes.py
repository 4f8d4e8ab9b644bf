"""Typed command-line arguments, shared by every `castiel` command: one parser per kind of
value, each with its bounds, so `--duration`, `--for`, `--metrics-port` or `--redis` mean the
same thing (and are refused the same way) wherever they appear.

Each function here is an argparse `type=`: it returns the typed value or raises
`argparse.ArgumentTypeError`, which the CLI prints as one line naming the argument (exit 2),
before the command touches Redis, the store or the network.

Bounds (docs/development.md lists them too):

* durations use the one grammar of `runtime.durations` (`250ms`, `30s`, `5m`, `1h30m`, `7d`;
  a plain number is seconds) and are at most `MAX_DURATION` (10 years) unless a flag says
  less; `castiel run --duration` is at most `RUN_LIMIT` (7 days) unless `--allow-long`;
* ports are 1-65535; `port_or_zero` also takes 0 where the help says "0 picks a free port";
* hosts are IP addresses or host names (`999.999.1.1` is neither);
* URLs are checked for their scheme and host up front (`notaurl`, `redis://` are refused);
* counts are whole numbers with a stated minimum (`--limit -5` is refused);
* `--store` names the store's file: a directory or a file that is not a Castiel store is
  refused before anything is created or written (`castiel/storearg.py`: the store is a
  platform module, and this one serves the runtime install's commands too).
"""

from __future__ import annotations

import argparse
import ipaddress
import math
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from runtime.connection import RedisSettings
from runtime.durations import EXAMPLES, format_duration, parse_duration
from runtime.errors import ConfigError

YEAR = 365 * 86400.0
MAX_DURATION = 10 * YEAR
"""The longest duration any flag accepts (a silence, a monitor's --for)."""
RUN_LIMIT = 7 * 86400.0
"""`castiel run --duration` above this needs `--allow-long`."""

_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def _fail(message: str) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(message)


def duration(*, maximum: float = MAX_DURATION, allow_zero: bool = False) -> Callable[[str], float]:
    """A duration in seconds, > 0 (>= 0 with `allow_zero`) and <= `maximum`."""

    def parse(text: str) -> float:
        try:
            seconds = parse_duration(text)
        except ValueError:
            raise _fail(f"{text!r} is not a duration ({EXAMPLES})") from None
        if seconds == 0 and allow_zero:
            return 0.0
        if seconds <= 0:
            raise _fail(f"{text!r} must be longer than 0s")
        if seconds > maximum:
            raise _fail(f"{text!r} is longer than the limit of {spelled(maximum)}")
        return seconds

    parse.__name__ = "duration"  # argparse names the type in "invalid <name> value" messages
    return parse


def count(minimum: int = 0, maximum: int | None = None) -> Callable[[str], int]:
    """A whole number >= `minimum` (and <= `maximum`)."""

    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise _fail(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise _fail(f"{value} is less than {minimum}")
        if maximum is not None and value > maximum:
            raise _fail(f"{value} is more than {maximum}")
        return value

    parse.__name__ = "count"
    return parse


def number(minimum: float, *, inclusive: bool = True) -> Callable[[str], float]:
    """A finite decimal number >= `minimum` (> with `inclusive=False`)."""

    def parse(text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise _fail(f"{text!r} is not a number") from None
        if not math.isfinite(value):
            raise _fail(f"{text!r} is not a finite number")
        if value < minimum or (not inclusive and value == minimum):
            relation = ">=" if inclusive else ">"
            raise _fail(f"{value:g} must be {relation} {minimum:g}")
        return value

    parse.__name__ = "number"
    return parse


def port(text: str) -> int:
    """A TCP port, 1-65535."""
    value = port_or_zero(text)
    if value == 0:
        raise _fail("0 is not a port here (1-65535)")
    return value


def port_or_zero(text: str) -> int:
    """A TCP port, 1-65535, or 0 where "0 picks a free port" is meant."""
    try:
        value = int(text.strip())
    except ValueError:
        raise _fail(f"{text!r} is not a port number (1-65535)") from None
    if not 0 <= value <= 65535:
        raise _fail(f"{value} is not a port number (1-65535)")
    return value


def host(text: str) -> str:
    """An IP address or a host name (RFC 1123); a dotted quad out of range is neither."""
    name = text.strip()
    try:
        return str(ipaddress.ip_address(name.strip("[]")))
    except ValueError:
        pass
    labels = name.rstrip(".").split(".")
    if (
        not name
        or len(name) > 253
        or not all(_LABEL.match(label) for label in labels)
        or labels[-1].isdigit()  # a numeric last label is an IPv4 address, and this was not one
    ):
        raise _fail(f"{text!r} is not an IP address or host name")
    return name


def http_url(text: str) -> str:
    """An absolute http:// or https:// URL with a host (and a valid port, if any)."""
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _fail(f"{_shown(text)!r} is not an http:// or https:// URL with a host")
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when asked
    except ValueError:
        raise _fail(f"{_shown(text)!r} has no valid port (1-65535)") from None
    return text.strip()


def redis_url(text: str) -> str:
    """A Redis URL (`redis://host:port/db`, `rediss://`, `unix://`, `redis+cluster://`)."""
    try:
        RedisSettings.from_url(text.strip())
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    return text.strip()


def spelled(seconds: float) -> str:
    """A limit as people say it: `10 years`, `7d`, `5m`."""
    if seconds >= YEAR and seconds % YEAR == 0:
        return f"{seconds / YEAR:g} years"
    if seconds >= 86400 and seconds % 86400 == 0:
        return f"{seconds / 86400:g}d"
    return format_duration(seconds)


def _shown(url: str) -> str:
    """`url` without a password, for messages."""
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


def check_run_duration(seconds: float, allow_long: bool) -> None:
    """`castiel run --duration` above RUN_LIMIT needs `--allow-long` (a typo like `7d` for
    `7m` should not load a service for a week)."""
    if seconds > RUN_LIMIT and not allow_long:
        raise ConfigError(
            f"argument --duration: {spelled(seconds)} is longer than {spelled(RUN_LIMIT)}; "
            "pass --allow-long to run that long"
        )


def existing_file(text: str) -> Path:
    """A file that exists (not a directory)."""
    path = Path(text)
    if not path.is_file():
        raise _fail(f"{text}: " + ("is a directory" if path.is_dir() else "no such file"))
    return path


def directory(text: str) -> Path:
    """A directory to write into: existing, or created later (not an existing file)."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise _fail(f"{text} is a file, not a directory")
    return path


def output_file(text: str) -> Path:
    """A file to write (a report): not an existing directory."""
    path = Path(text)
    if path.is_dir():
        raise _fail(f"{text} is a directory; give a file name")
    return path
