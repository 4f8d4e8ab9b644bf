"""Plain-text tables for the commands that run on the runtime install alone (`castiel queue`,
`castiel schedule`): rich, which the other commands print with, is a platform dependency."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def text_table(title: str, headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """`title`, a header line, a rule and one line per row; numeric columns right-aligned."""
    raw = [list(row) for row in rows]
    cells = [[str(c) for c in row] for row in raw]
    numeric = [
        bool(raw) and all(isinstance(row[i], int | float) for row in raw)
        for i in range(len(headers))
    ]
    widths = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(headers)]

    def line(row: Sequence[str]) -> str:
        parts = (
            c.rjust(w) if right else c.ljust(w)
            for c, w, right in zip(row, widths, numeric, strict=True)
        )
        return "  ".join(parts).rstrip()

    rule = ["-" * w for w in widths]
    return "\n".join([title, line(headers), line(rule), *(line(row) for row in cells)])
