"""Secret values in the alert config: `${VAR}` references resolved from the environment at send
time only. A `Secret` never shows its value: repr/str name the variables, and `redact` removes
revealed values from any text (error messages, response bodies) before it is logged or stored."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from runtime.errors import BadInput

_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
REDACTED = "<redacted>"


class MissingSecret(BadInput):
    """A `${VAR}` the config refers to is not set. The message names the variable only."""

    def __init__(self, variables: tuple[str, ...]) -> None:
        self.variables = variables
        names = ", ".join(f"${v}" for v in variables)
        super().__init__(f"environment variable {names} is not set")


@dataclass(frozen=True)
class Secret:
    template: str
    """As written in the config: `${SLACK_WEBHOOK_URL}`, `https://x/${TOKEN}` or a literal."""

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(_REF.findall(self.template))

    @property
    def literal(self) -> bool:
        """Written into the config file itself: works, but `validate` warns about it."""
        return not self.variables

    def reveal(self, env: Mapping[str, str]) -> str:
        missing = tuple(v for v in self.variables if not env.get(v))
        if missing:
            raise MissingSecret(missing)
        return _REF.sub(lambda m: env[m.group(1)], self.template)

    def __repr__(self) -> str:
        return f"Secret({self.describe()})"

    def __str__(self) -> str:
        return self.describe()

    def describe(self) -> str:
        if self.literal:
            return REDACTED
        return "+".join(f"${{{v}}}" for v in self.variables)


def redact(text: str, secrets: Iterable[str]) -> str:
    """Remove every revealed secret (and its URL-encoded and path forms) from `text`."""
    variants: set[str] = set()
    for s in secrets:
        if len(s) < 4:  # too short to be a secret worth hiding; would shred the text
            continue
        variants.update({s, urllib.parse.quote(s, safe=""), urllib.parse.quote(s)})
        parsed = urllib.parse.urlsplit(s)
        if parsed.scheme and parsed.netloc and len(parsed.path) > 1:
            # A webhook URL's secret is its path (and query); servers echo those alone.
            variants.add(parsed.path + (f"?{parsed.query}" if parsed.query else ""))
            if parsed.query:
                variants.add(parsed.query)
    for v in sorted(variants, key=len, reverse=True):
        text = text.replace(v, REDACTED)
    return text
