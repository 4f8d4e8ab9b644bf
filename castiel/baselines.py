"""Baseline selection for the gate: which earlier run each comparing budget is compared
with. The comparison itself is the evaluator's (budgets.evaluate, budgets.baseline).

Sources of a baseline, from `--baseline REF` or else what each budget's `against:` says:
* last passing (`last-passing`): chosen like for like by budgets.baseline_select from the
  store's passing runs on this branch, then on the default branch;
* a saved baseline name, or a run id in the store;
* a bundle file (`castiel runs export`): read into memory and compared directly; nothing is
  written to the store, so a CI job can gate on a downloaded artifact with no history;
* `none`: no comparisons.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from budgets.baseline_select import (
    DEFAULT_BRANCH,
    DEFAULT_MATCH,
    PASSING,
    MatchPolicy,
    content_hash,
    explicit_note,
    parse_match,
    profile,
    select_baseline,
)
from budgets.evaluate import BaselineRun, baseline_key
from budgets.model import BaselineRef, Budget
from castiel.errors import UsageError
from collectors.bundle import Bundle, read_bundle
from collectors.model import RunInfo, SeriesData, SeriesKey
from collectors.store import Store, UnknownRun

CANDIDATES_PER_BRANCH = 200
"""How many of a branch's newest passing runs "last passing" looks through."""
_LAST_PASSING = ("last-passing", "last_passing")


@dataclass(frozen=True)
class BaselineChoice:
    """What the command line asked for (`--baseline`, `--baseline-match`,
    `--baseline-branch`, castiel.yaml's `baseline:`), with a bundle already read and checked
    (so `castiel run` refuses a bad one before sending any load)."""

    ref: str | None = None
    bundle: Bundle | None = None
    bundle_path: str = ""
    policy: MatchPolicy = field(default_factory=MatchPolicy)
    budgets_sha256: str | None = None
    """Content hash of the budget file being evaluated (compared as the `budgets` field)."""


def looks_like_bundle(ref: str) -> bool:
    """A `--baseline` value naming a file rather than a saved name (which may contain a `/`,
    like `release/1.4`) or a run id."""
    return ref.endswith(".gz") or Path(ref).is_file()


def parse_choice(
    ref: str | None, policy: MatchPolicy, budgets_sha256: str | None
) -> BaselineChoice:
    """Raises BadInput for a bundle that cannot be read (naming the file and line)."""
    if ref is not None and ref not in _LAST_PASSING and ref != "none" and looks_like_bundle(ref):
        return BaselineChoice(ref, read_bundle(ref), ref, policy, budgets_sha256)
    return BaselineChoice(ref, None, "", policy, budgets_sha256)


def resolve(
    store: Store, run: RunInfo, budgets: list[Budget], choice: BaselineChoice
) -> tuple[list[Budget], dict[str, BaselineRun]]:
    """The budgets (with --baseline applied to those that compare) and, per baseline key,
    the run to compare with, its series, and a sentence saying which one and why."""
    if choice.ref == "none":
        return [dataclasses.replace(b, baseline=None) for b in budgets], {}
    out: dict[str, BaselineRun] = {}
    if choice.ref is not None:
        forced = _forced(store, run, budgets, choice)
        if forced is not None:
            name, baseline_run = forced
            budgets = _point_at(budgets, BaselineRef.NAMED, name)
            out[f"named:{name}"] = baseline_run
        else:
            budgets = _point_at(budgets, BaselineRef.LAST_PASSING, None)
    comparing = [b for b in budgets if b.baseline is not None]
    current = profile(run, choice.budgets_sha256)
    for b in comparing:
        assert b.baseline is not None
        key = baseline_key(b.baseline)
        if key in out:
            continue
        if b.baseline.ref is BaselineRef.LAST_PASSING:
            sel = select_baseline(
                run, current, _candidates(store, run, choice.policy), choice.policy
            )
            found, label = sel.run, sel.reason
        else:
            found, label = _named(store, run, current, b.baseline.name or "")
        series = load_selected(store, found, comparing) if found else []
        out[key] = BaselineRun(label, found, series)
    return budgets, out


def _point_at(budgets: list[Budget], ref: BaselineRef, name: str | None) -> list[Budget]:
    return [
        dataclasses.replace(b, baseline=dataclasses.replace(b.baseline, ref=ref, name=name))
        if b.baseline is not None
        else b
        for b in budgets
    ]


def _forced(
    store: Store, run: RunInfo, budgets: list[Budget], choice: BaselineChoice
) -> tuple[str, BaselineRun] | None:
    """--baseline naming one run (a bundle, a saved name, a run id); None for last-passing."""
    ref = choice.ref or ""
    if ref in _LAST_PASSING:
        return None
    current = profile(run, choice.budgets_sha256)
    comparing = [b for b in budgets if b.baseline is not None]
    if choice.bundle is not None:
        b = choice.bundle
        if b.run.id == run.id:
            raise UsageError(f"--baseline {ref}: that bundle holds the run being checked")
        label = (
            f"run {b.run.id} from bundle {choice.bundle_path} (branch "
            f"{b.run.git_branch or '(none)'}, verdict {b.run.verdict or 'never evaluated'}, "
            f"castiel {b.castiel_version})" + explicit_note(run, current, b.run)
        )
        return f"bundle:{ref}", BaselineRun(label, b.run, select_series(b.series, comparing))
    if store.get_baseline(ref) is not None:
        found, label = _named(store, run, current, ref)
        return ref, BaselineRun(
            label, found, load_selected(store, found, comparing) if found else []
        )
    found = _get_run(store, ref)
    if found is None:
        raise UsageError(
            f"--baseline {ref!r} is neither a saved baseline, a run id nor a bundle file"
        )
    if found.id == run.id:
        raise UsageError(f"--baseline {ref} is the run being checked")
    label = f"run {found.id} (named by --baseline)" + explicit_note(run, current, found)
    return f"run:{ref}", BaselineRun(label, found, load_selected(store, found, comparing))


def _named(
    store: Store, run: RunInfo, current: dict[str, str | None], name: str
) -> tuple[RunInfo | None, str]:
    found = store.get_baseline(name)
    if found is None and name.startswith("run:"):
        found = _get_run(store, name[4:])
    if found is None:
        return None, f"no baseline named {name!r}"
    return found, f"baseline {name!r} (run {found.id})" + explicit_note(run, current, found)


def _candidates(store: Store, run: RunInfo, policy: MatchPolicy) -> list[RunInfo]:
    """Passing runs before this one on its branch and on the default branch (filtered by
    scenario in the query when the policy compares it; the rest is select_baseline's)."""
    scenario = run.scenario if "scenario" in policy.fields and run.scenario else None
    branches: list[str | None] = [run.git_branch]
    if policy.default_branch is not None and policy.default_branch != run.git_branch:
        branches.append(policy.default_branch)
    return [
        c
        for branch in branches
        for c in store.find_runs(
            branches=[branch],
            scenario=scenario,
            verdicts=PASSING,
            before=run.started_at,
            limit=CANDIDATES_PER_BRANCH,
        )
    ]


def _get_run(store: Store, run_id: str) -> RunInfo | None:
    try:
        return store.get_run(run_id)
    except UnknownRun:
        return None


def _selects(budgets: Iterable[Budget], key: SeriesKey) -> bool:
    return any(s.matches(key) for b in budgets for s in (b.selector, *b.denominator))


def load_selected(store: Store, run: RunInfo, budgets: Sequence[Budget]) -> list[SeriesData]:
    """Only the series some budget selects: a run can hold far more than the budgets read."""
    keys = [key for key, _ in store.series(run.id) if _selects(budgets, key)]
    return store.load_series(run.id, keys) if keys else []


def select_series(series: Iterable[SeriesData], budgets: Sequence[Budget]) -> list[SeriesData]:
    return [s for s in series if _selects(budgets, s.key)]


# --- command line ----------------------------------------------------------------------------

BASELINE_HELP = (
    "baseline for budgets that compare: 'last-passing' (the newest passing run with the same "
    "load, on this branch or else the default branch), a saved baseline name, a run id, a "
    "bundle file from `castiel runs export` (compared directly, not imported), or 'none' to "
    "skip comparisons (default: what each budget says)"
)


def add_baseline_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--baseline", metavar="REF", help=BASELINE_HELP)
    parser.add_argument(
        "--baseline-match",
        metavar="FIELDS",
        type=_match_arg,
        help="fields a last-passing baseline must share with this run, comma-separated, or "
        f"'none' (default: all of {', '.join(DEFAULT_MATCH)}; castiel.yaml baseline.match)",
    )
    parser.add_argument(
        "--baseline-branch",
        metavar="BRANCH",
        help="branch to fall back to when this branch has no qualifying run, or 'none' "
        f"(default {DEFAULT_BRANCH}; castiel.yaml baseline.default_branch)",
    )


def _match_arg(text: str) -> tuple[str, ...]:
    try:
        return parse_match(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def choice_from_args(
    args: argparse.Namespace, configured: MatchPolicy, budgets_text: str
) -> BaselineChoice:
    """The flags win over castiel.yaml's `baseline:` section."""
    fields = configured.fields if args.baseline_match is None else args.baseline_match
    branch = configured.default_branch
    if args.baseline_branch is not None:
        branch = None if args.baseline_branch.lower() == "none" else args.baseline_branch
    return parse_choice(
        args.baseline,
        MatchPolicy(fields, branch),
        content_hash(budgets_text.encode("utf-8")),
    )
