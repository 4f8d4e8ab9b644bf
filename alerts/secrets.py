"""Secret values in the alert config: `${VAR}` (or `${VAR:-default}`; collectors.envrefs,
the grammar every config file shares) references resolved from the environment at send time
only. A `Secret` never shows its value: repr/str name the variables, and `redact` removes
revealed values (whole, encoded, or any 8 characters of them) from any text (error messages,
response bodies) before it is cut short, logged or stored."""

from __future__ import annotations

import base64
import html
import json
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from collectors import envrefs

REDACTED = "<redacted>"
MissingSecret = envrefs.UnsetVariable
"""A `${VAR}` the config refers to is not set (or empty). The message names the variable."""


@dataclass(frozen=True)
class Secret:
    template: str
    """As written in the config: `${SLACK_WEBHOOK_URL}`, `https://x/${TOKEN}` or a literal."""

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(r.name for r in envrefs.references(self.template))

    @property
    def literal(self) -> bool:
        """Written into the config file itself: works, but `validate` warns about it."""
        return not self.variables

    def reveal(self, env: Mapping[str, str]) -> str:
        """The value; raises MissingSecret for a variable that is not set or empty."""
        return envrefs.expand(self.template, env, empty_is_unset=True)

    def unset(self, env: Mapping[str, str]) -> tuple[str, ...]:
        return envrefs.unset(self.template, env, empty_is_unset=True)

    def __repr__(self) -> str:
        return f"Secret({self.describe()})"

    def __str__(self) -> str:
        return self.describe()

    def describe(self) -> str:
        if self.literal:
            return REDACTED
        return "+".join(f"${{{v}}}" for v in self.variables)


FRAGMENT = 8
"""A piece of a secret this long or longer is a secret too: a receiver that echoes the request
and cuts its own error text must not leak the first characters of a key."""


def _parts(secret: str) -> tuple[list[str], list[str]]:
    """(whole, fragmentable): what of a revealed secret must not appear whole, and what must
    not appear even in part (any FRAGMENT characters of it). A URL's scheme and host are public
    (DNS, every proxy's log); its path, query and password are the secret, and so is each of
    their pieces (Slack's T.../B.../token, a `?token=` value)."""
    parts = urllib.parse.urlsplit(secret)
    if not (parts.scheme and parts.netloc):
        return [secret], [secret]
    private = parts.path + (f"?{parts.query}" if parts.query else "")
    pieces = [p for p in parts.path.split("/") if p]
    pieces += [v for _, v in urllib.parse.parse_qsl(parts.query)]
    if parts.password:
        pieces.append(parts.password)
    return [secret], [x for x in (private, *pieces) if x.strip("/")]


def _encodings(s: str) -> set[str]:
    """`s` as it may be echoed back: raw, URL-encoded, JSON-escaped (also with `\\/`), HTML-
    escaped, base64."""
    quoted = json.dumps(s)[1:-1]
    raw = s.encode()
    b64 = {base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()}
    return {
        s,
        urllib.parse.quote(s, safe=""),
        urllib.parse.quote(s),
        urllib.parse.quote_plus(s),
        quoted,
        quoted.replace("/", "\\/"),
        json.dumps(s, ensure_ascii=False)[1:-1],
        html.escape(s),
        *b64,
        *(b.rstrip("=") for b in b64),
    }


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` without any revealed secret: every encoding of it (`_encodings`), and every
    piece of FRAGMENT or more characters of it (`_parts`), matched case-insensitively; each
    stretch removed becomes one `<redacted>`. Redact before cutting a text short."""
    whole: set[str] = set()
    grams: set[str] = set()
    for secret in secrets:
        if len(secret) < 4:  # too short to be a secret worth hiding; would shred the text
            continue
        exact, fragmentable = _parts(secret)
        for form in (e for x in exact for e in _encodings(x)):
            whole.add(form.lower())
        for form in (e.lower() for x in fragmentable for e in _encodings(x)):
            whole.add(form)
            grams.update(form[i : i + FRAGMENT] for i in range(len(form) - FRAGMENT + 1))
    low = text.lower()
    hidden = bytearray(len(text))
    for form in whole:
        if len(form) < 4:
            continue
        at = low.find(form)
        while at != -1:
            hidden[at : at + len(form)] = b"\x01" * len(form)
            at = low.find(form, at + 1)
    for i in range(len(low) - FRAGMENT + 1):
        if low[i : i + FRAGMENT] in grams:
            hidden[i : i + FRAGMENT] = b"\x01" * FRAGMENT
    out: list[str] = []
    for i, ch in enumerate(text):
        if not hidden[i]:
            out.append(ch)
        elif i == 0 or not hidden[i - 1]:
            out.append(REDACTED)
    return "".join(out)
