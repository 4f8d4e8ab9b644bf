"""Which earlier run is a fair baseline for this one: like compared with like.

A run records its load configuration in its environment when it starts (`load_identity`):
users, peak multiplier, duration, a content hash of the locustfile, the target's host and a
content hash of the budget file. "Last passing" picks the newest earlier passing run whose
values equal the current run's in every field of the policy (all of `MATCH_FIELDS` by
default), on the current branch first and then on the default branch.

* A field the current run does not record (a run started by `castiel monitor`, or before
  Castiel recorded it) is not compared, and the explanation says so.
* A field a candidate does not record counts as different: a run of unknown load is never
  taken for a like one.

`select_baseline` is a pure function: candidates, the current run and the policy in, the
choice and a sentence for people out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from collectors.model import RunInfo
from collectors.yamlspec import suggest
from runtime.durations import format_duration, parse_duration

MATCH_FIELDS: dict[str, str] = {
    "scenario": "",  # a column of the run, not an environment key
    "users": "load.users",
    "peak_multiplier": "load.peak_multiplier",
    "duration": "load.duration",
    "locustfile": "load.locustfile_sha256",
    "target": "load.target",
    "budgets": "load.budgets_sha256",
    "arrival": "load.arrival",  # "none" (a closed loop of users) or the arrival-rate plan
}
"""Field name (as `--baseline-match` spells it) -> the run environment key that records it."""
DEFAULT_MATCH: tuple[str, ...] = tuple(MATCH_FIELDS)
DEFAULT_BRANCH = "main"
PASSING = ("pass", "warn")
_HASHES = ("locustfile", "budgets")


@dataclass(frozen=True)
class MatchPolicy:
    """Which fields a last-passing baseline must share with the run, and the branch to fall
    back to when the run's own branch has no such run (None: no fallback)."""

    fields: tuple[str, ...] = DEFAULT_MATCH
    default_branch: str | None = DEFAULT_BRANCH


@dataclass(frozen=True)
class Selection:
    run: RunInfo | None
    reason: str
    """Which run and why, or why none qualified, for the reports."""


# --- what a run records ----------------------------------------------------------------


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def target_host(url: str) -> str:
    """The host part of a target URL (`host` or `host:port`, lower case): paths and queries
    do not change the system under test, and credentials are never recorded."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{host}:{port}" if port is not None else host


def _exact_number(x: float) -> str:
    """Short when that is exact (`3`, `2.5`), else every digit: equal text = equal value."""
    return f"{x:g}" if float(f"{x:g}") == x else repr(float(x))


def _exact_duration(seconds: float) -> str:
    text = format_duration(seconds)
    try:
        exact = parse_duration(text) == seconds
    except ValueError:
        exact = False
    return text if exact else f"{seconds!r}s"


def load_identity(
    *,
    users: int,
    peak_multiplier: float,
    duration: float,
    locustfile: bytes,
    target: str,
    budgets_text: str,
    arrival: str = "none",
) -> dict[str, str]:
    """The environment entries that say which load a run sent (recorded at run start)."""
    return {
        MATCH_FIELDS["users"]: str(users),
        MATCH_FIELDS["peak_multiplier"]: _exact_number(peak_multiplier),
        MATCH_FIELDS["duration"]: _exact_duration(duration),
        MATCH_FIELDS["locustfile"]: content_hash(locustfile),
        MATCH_FIELDS["target"]: target_host(target),
        MATCH_FIELDS["budgets"]: content_hash(budgets_text.encode("utf-8")),
        MATCH_FIELDS["arrival"]: arrival,
    }


def profile(run: RunInfo, budgets_sha256: str | None = None) -> dict[str, str | None]:
    """A run's value for every match field (None: not recorded). `budgets_sha256` is the hash
    of the budget file being evaluated now, which wins over the one the run recorded."""
    values: dict[str, str | None] = {
        name: run.environment.get(key) for name, key in MATCH_FIELDS.items() if key
    }
    values["scenario"] = run.scenario or None
    if budgets_sha256 is not None:
        values["budgets"] = budgets_sha256
    return values


def parse_match(text: str) -> tuple[str, ...]:
    """`scenario,users,...` (or `none`) -> field names. Raises ValueError naming the bad one."""
    if text.strip().lower() == "none":
        return ()
    names = tuple(n.strip().replace("-", "_") for n in text.split(",") if n.strip())
    for name in names:
        if name not in MATCH_FIELDS:
            raise ValueError(
                f"unknown field {name!r} ({suggest(name, tuple(MATCH_FIELDS), 'fields')})"
            )
    return tuple(dict.fromkeys(names))


# --- choosing --------------------------------------------------------------------------


def differences(
    current: Mapping[str, str | None], candidate: RunInfo, fields: Iterable[str]
) -> list[str]:
    """The compared fields (those the current run records) in which `candidate` differs."""
    theirs = profile(candidate)
    return [f for f in fields if current.get(f) is not None and theirs.get(f) != current.get(f)]


def select_baseline(
    run: RunInfo,
    current: Mapping[str, str | None],
    candidates: Sequence[RunInfo],
    policy: MatchPolicy,
) -> Selection:
    """The newest passing run started before `run` that equals `current` (the run's
    `profile`) in every policy field, on the run's branch, else on the default branch."""
    usable = [
        c
        for c in candidates
        if c.id != run.id and c.started_at < run.started_at and c.verdict in PASSING
    ]
    usable.sort(key=lambda c: c.started_at, reverse=True)
    branches = [run.git_branch]
    if policy.default_branch is not None and policy.default_branch != run.git_branch:
        branches.append(policy.default_branch)
    misses: list[str] = []
    for branch in branches:
        on_branch = [c for c in usable if c.git_branch == branch]
        found = next((c for c in on_branch if not differences(current, c, policy.fields)), None)
        if found is not None:
            return Selection(found, _found_reason(found, current, policy, misses))
        misses.append(_miss_reason(branch, on_branch, current, policy.fields))
    return Selection(
        None, "no qualifying baseline: " + "; ".join(misses) + _unrecorded(current, policy)
    )


def _found_reason(
    found: RunInfo, current: Mapping[str, str | None], policy: MatchPolicy, misses: list[str]
) -> str:
    compared = [f for f in policy.fields if current.get(f) is not None]
    same = ", ".join(f"{f}={_show(f, current[f])}" for f in compared)
    reason = f"last passing run {found.id} on branch {_branch(found.git_branch)}"
    reason += f" with the same {same}" if same else " (no load fields compared)"
    if misses:
        reason += f" (fallback to the default branch; {misses[0]})"
    return reason + _unrecorded(current, policy)


def _miss_reason(
    branch: str | None,
    on_branch: Sequence[RunInfo],
    current: Mapping[str, str | None],
    fields: Sequence[str],
) -> str:
    if not on_branch:
        return f"no passing run on branch {_branch(branch)} before this one"
    counts: dict[str, int] = {}
    for c in on_branch:
        for f in differences(current, c, fields):
            counts[f] = counts.get(f, 0) + 1
    ordered = sorted(counts, key=lambda f: (-counts[f], fields.index(f)))
    wanted = " and ".join(f"{f}={_show(f, current[f])}" for f in ordered)
    n = len(on_branch)
    text = f"{n} passing run{'s' if n != 1 else ''} on branch {_branch(branch)}, none with {wanted}"
    if len(ordered) > 1:
        text += " (" + ", ".join(f"{f} differs in {counts[f]}" for f in ordered) + ")"
    return text


def _unrecorded(current: Mapping[str, str | None], policy: MatchPolicy) -> str:
    missing = [f for f in policy.fields if current.get(f) is None]
    return f"; not compared, this run does not record: {', '.join(missing)}" if missing else ""


def explicit_note(run: RunInfo, current: Mapping[str, str | None], chosen: RunInfo) -> str:
    """For a baseline named explicitly (a saved name, a run id, a bundle): a warning when it
    does not compare like with like. Every field is checked, whatever the policy says."""
    theirs = profile(chosen)
    diffs = differences(current, chosen, DEFAULT_MATCH)
    parts = [f"{f} {_show(f, theirs.get(f))} vs {_show(f, current[f])}" for f in diffs]
    notes = [f"differs from this run in {', '.join(parts)}"] if parts else []
    if chosen.verdict not in PASSING:
        notes.append(f"its verdict was {chosen.verdict or 'never evaluated'}")
    if chosen.id == run.id:
        notes.append("it is this run itself")
    elif chosen.started_at >= run.started_at:
        notes.append("it started after this run")
    return ("; warning: " + "; ".join(notes)) if notes else ""


def _show(field: str, value: str | None) -> str:
    if value is None:
        return "(not recorded)"
    return value[:12] if field in _HASHES else value


def _branch(branch: str | None) -> str:
    return branch if branch is not None else "(none)"
