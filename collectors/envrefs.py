"""The one `${VAR}` reference grammar of Castiel's configuration files (castiel.yaml's
`sources:`, the alerts config's secrets, and any section after them):

    ${NAME}            the environment variable NAME; an error when it is not set
    ${NAME:-default}   NAME when it is set and not empty, else `default` (as in a POSIX shell)

NAME is `[A-Za-z_][A-Za-z0-9_]*`. Anything else in the text is kept as written."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from runtime.errors import BadInput

_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True)
class Ref:
    name: str
    default: str | None = None


class UnsetVariable(BadInput):
    """`${NAME}` without a default, and NAME is not set. The message names the variables
    only: never a value."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        listed = ", ".join(f"${n}" for n in names)
        super().__init__(f"environment variable {listed} is not set")


def references(text: str) -> tuple[Ref, ...]:
    return tuple(Ref(m.group(1), m.group(2)) for m in _REF.finditer(text))


def unset(text: str, env: Mapping[str, str], *, empty_is_unset: bool = False) -> tuple[str, ...]:
    """The variables `text` needs that `env` does not give (those with a default never)."""
    return tuple(
        r.name
        for r in references(text)
        if r.default is None and (env.get(r.name) is None or (empty_is_unset and not env[r.name]))
    )


def expand(text: str, env: Mapping[str, str], *, empty_is_unset: bool = False) -> str:
    """`text` with every reference replaced. Raises UnsetVariable naming what is missing
    (with `empty_is_unset`, an empty value counts as missing: a secret cannot be empty)."""
    missing = unset(text, env, empty_is_unset=empty_is_unset)
    if missing:
        raise UnsetVariable(missing)

    def value(m: re.Match[str]) -> str:
        got = env.get(m.group(1))
        if m.group(2) is not None and not got:
            return m.group(2)
        return got or ""

    return _REF.sub(value, text)
