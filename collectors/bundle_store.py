"""Moving runs between a store and bundle files (collectors.bundle), through the Store's
public methods only, so it works on every backend the Store has."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum

from collectors.bundle import Bundle, castiel_version
from collectors.model import Batch, MetricKind, RunInfo, SeriesData
from collectors.store import Store, UnknownRun, VerdictRecord
from runtime.errors import BadInput

_SAMPLES_PER_BATCH = 5000
"""Points and histograms per store write: big enough for few transactions, small enough to
keep a one-hour run's import from holding the write lock for long."""


class ExportError(BadInput):
    """The run cannot be exported (unknown, still running)."""


def export_run(store: Store, run_id: str, now: float) -> Bundle:
    """Everything the store holds about one finished run. Raises ExportError."""
    try:
        run = store.get_run(run_id)
    except UnknownRun:
        raise ExportError(f"no run with id {run_id!r} in the store") from None
    if run.status == "running":
        raise ExportError(
            f"run {run_id} is still running; export it once it has finished "
            "(a run that crashed stays 'running': `castiel runs delete` it instead)"
        )
    return Bundle(
        run=run,
        series=tuple(store.load_series(run_id)),
        verdicts=tuple(store.verdicts(run_id)),
        baselines=tuple(n for n, rid in store.baselines().items() if rid == run_id),
        castiel_version=castiel_version(),
        created_at=now,
    )


class ImportConflict(BadInput):
    """The bundle's data contradicts the store's (a series of another kind)."""


class Imported(StrEnum):
    NEW = "imported"
    REPLACED = "replaced an unfinished copy"
    ALREADY = "already in the store"


@dataclass(frozen=True)
class ImportResult:
    run_id: str
    outcome: Imported
    baselines_set: tuple[str, ...] = ()
    baselines_kept: tuple[tuple[str, str], ...] = ()
    """(name, run id) of baseline names the store already gives to another run: left alone."""
    differs: str = ""
    """For ALREADY: how the stored copy differs from the bundle, if it does."""


def import_bundle(store: Store, bundle: Bundle, now: float) -> ImportResult:
    """Load a bundle into the store, idempotently: a run id names one run, so a run already
    there (finished) is left as it is, and importing the same bundle twice leaves the same
    state. A copy still marked running (an import or a run that was cut off) is replaced.

    The run is created first and finished last, so until the import is complete the run
    shows as running; a failure part-way deletes what was written and re-raises."""
    run = bundle.run
    existing = _existing(store, run.id)
    outcome = Imported.NEW
    if existing is not None:
        if existing.status != "running":
            return ImportResult(run.id, Imported.ALREADY, differs=_difference(existing, bundle))
        store.delete_run(run.id)
        outcome = Imported.REPLACED
    store.create_run(
        started_at=run.started_at,
        scenario=run.scenario,
        git_commit=run.git_commit,
        git_branch=run.git_branch,
        config_hash=run.config_hash,
        environment=run.environment,
        run_id=run.id,
    )
    try:
        for batch in _batches(bundle.series):
            store.write(run.id, batch)
        for phase, at in run.phases.items():
            store.set_phase(run.id, phase, at)
        for source, records in _by_source(bundle.verdicts):
            store.record_verdicts(run.id, records, source=source, replace=True)
        if run.verdict is not None:
            store.set_run_verdict(run.id, run.verdict)
        set_names, kept = _restore_baselines(store, bundle, now)
        store.finish_run(run.id, run.ended_at if run.ended_at is not None else now, run.status)
    except ValueError as exc:  # a series of another kind under the same name and labels
        store.delete_run(run.id)
        raise ImportConflict(f"run {run.id} does not fit this store: {exc}") from None
    except BaseException:
        store.delete_run(run.id)
        raise
    return ImportResult(run.id, outcome, set_names, kept)


def _existing(store: Store, run_id: str) -> RunInfo | None:
    try:
        return store.get_run(run_id)
    except UnknownRun:
        return None


def _difference(existing: RunInfo, bundle: Bundle) -> str:
    if existing.verdict != bundle.run.verdict:
        return f"its verdict here is {existing.verdict}, the bundle's is {bundle.run.verdict}"
    return ""


def _batches(series: Sequence[SeriesData]) -> Iterator[Batch]:
    batch, size = Batch(), 0
    for s in series:
        for p in s.points:
            if s.kind is MetricKind.COUNTER:
                batch.add_increment(s.key, p.timestamp, p.value)
            else:
                batch.add_gauge(s.key, p.timestamp, p.value)
            size += 1
            if size >= _SAMPLES_PER_BATCH:
                yield batch
                batch, size = Batch(), 0
        for h in s.histograms:
            batch.add_histogram(s.key, h.start, h.end, h.histogram)
            size += 1
            if size >= _SAMPLES_PER_BATCH:
                yield batch
                batch, size = Batch(), 0
    if size:
        yield batch


def _by_source(records: Sequence[VerdictRecord]) -> list[tuple[str, list[VerdictRecord]]]:
    """Verdicts grouped by source, each group in the order it was stored."""
    groups: dict[str, list[VerdictRecord]] = defaultdict(list)
    for r in records:
        groups[r.source].append(r)
    return list(groups.items())


def _restore_baselines(
    store: Store, bundle: Bundle, now: float
) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """Give the run the baseline names it had, unless a name already belongs to another run
    here: a local baseline is never moved by an import."""
    if not bundle.baselines:
        return (), ()
    taken = store.baselines()
    set_names: list[str] = []
    kept: list[tuple[str, str]] = []
    for name in bundle.baselines:
        owner = taken.get(name)
        if owner is None or owner == bundle.run.id:
            store.set_baseline(name, bundle.run.id, now)
            set_names.append(name)
        else:
            kept.append((name, owner))
    return tuple(set_names), tuple(kept)
