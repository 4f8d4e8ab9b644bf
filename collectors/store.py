"""The metrics store: runs, series, points, interval histograms, verdicts, baselines and
retention settings, in SQLite (the embedded default, a file under `.castiel/`) or PostgreSQL
(a team's shared store), through one schema (`collectors.schema`) and one set of migrations
(`collectors.migrations`).

* `Store.open(where)` takes a path, a `postgresql://` URL or a `StoreLocator`
  (`collectors.locator.store_locator`); `readonly=True` for readers. Each process opens its
  own Store; one Store may be used from several threads.
* Every write is one transaction, so readers see whole batches; `load_series` reads one
  snapshot even while writers append. Many writers (several `castiel run`s, a monitor, the
  dashboard) can share one database: run ids are checked unique at insert and regenerated on
  the rare collision, and series are created with `ON CONFLICT DO NOTHING`.
* A SQLite writer migrates its file on open; a PostgreSQL store is migrated by
  `castiel store migrate` (`Store.migrate`). A store written by a newer Castiel is refused.
* Failures raise `StoreError` (exit 3); `StoreUnavailable` (a `StoreError`) when the server
  cannot be reached, which a run retries (`collectors.store_buffer`); `NotAStore` (exit 2)
  for a file that is not a store. Messages name the store without its password.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Select, Table, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from collectors import migrations
from collectors import store_samples as samples
from collectors.database import Database, Migration, dialect_insert
from collectors.locator import (
    DEFAULT_PATH,
    StoreLocator,
    check_store_path,
    connect_sqlite,
    store_locator,
)
from collectors.model import (
    Batch,
    MetricKind,
    RunInfo,
    SeriesData,
    SeriesKey,
)
from collectors.schema import baselines, histograms, points, runs, series, settings, verdicts
from collectors.store_errors import NotAStore, StoreError, StoreUnavailable, UnknownRun
from collectors.store_samples import decode_counts, encode_counts

__all__ = [
    "DEFAULT_PATH",
    "Migration",
    "NotAStore",
    "RetentionPolicy",
    "Store",
    "StoreError",
    "StoreLocator",
    "StoreUnavailable",
    "UnknownRun",
    "VerdictRecord",
    "check_store_path",
    "connect_sqlite",
    "decode_counts",
    "encode_counts",
    "new_run_id",
    "store_locator",
]

_RUN_COLUMNS = (
    runs.c.id,
    runs.c.started_at,
    runs.c.ended_at,
    runs.c.scenario,
    runs.c.git_commit,
    runs.c.git_branch,
    runs.c.config_hash,
    runs.c.environment,
    runs.c.status,
    runs.c.verdict,
    runs.c.phases,
)
_NEWEST_FIRST = (runs.c.started_at.desc(), runs.c.pk.desc())


@dataclass(frozen=True)
class RetentionPolicy:
    """Runs older than `max_age_seconds`, and runs beyond the newest `max_runs`, are deleted by
    `Store.prune`. Runs still running and runs named as baselines are always kept."""

    max_age_seconds: float | None = 30 * 86400.0
    max_runs: int | None = 500


@dataclass(frozen=True)
class VerdictRecord:
    """A verdict as the store keeps it: searchable columns plus the full JSON payload. The
    store does not interpret verdicts (that model lives in budgets)."""

    budget: str
    group: Mapping[str, str]
    status: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    evaluated_at: float = 0.0
    source: str = "check"


_IDS_PER_QUERY = 500
"""Run ids per `IN (...)` list: well under SQLite's limit on bound parameters."""


def _verdict_query(source: str | None) -> Select[Any]:
    query = select(
        verdicts.c.budget,
        verdicts.c.group_key,
        verdicts.c.status,
        verdicts.c.payload,
        verdicts.c.evaluated_at,
        verdicts.c.source,
    )
    return query if source is None else query.where(verdicts.c.source == source)


def _verdict_from_row(r: Sequence[Any]) -> VerdictRecord:
    return VerdictRecord(r[0], json.loads(r[1]), r[2], json.loads(r[3]), r[4], r[5])


def new_run_id(now: float) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    return f"{stamp}-{secrets.token_hex(3)}"


def _run_from_row(row: Sequence[Any]) -> RunInfo:
    return RunInfo(
        id=row[0],
        started_at=row[1],
        ended_at=row[2],
        scenario=row[3],
        git_commit=row[4],
        git_branch=row[5],
        config_hash=row[6],
        environment=json.loads(row[7]),
        status=row[8],
        verdict=row[9],
        phases=json.loads(row[10]),
    )


class Store:
    def __init__(self, db: Database) -> None:
        self._db = db
        self.locator: StoreLocator = db.locator
        """Where the store lives; prints without a password."""
        self.path: Path | None = db.locator.path
        """The SQLite file, None for a PostgreSQL store."""
        self.readonly = db.readonly
        self._series_ids = samples.SeriesIds(db.dialect)
        self._write_pks: dict[str, int] = {}

    # --- opening -------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str] | StoreLocator = DEFAULT_PATH,
        *,
        readonly: bool = False,
        busy_timeout: float = 30.0,
    ) -> Store:
        """`path`: a SQLite file, a `postgresql://` URL or a locator. A directory or a file
        that is not a Castiel store raises NotAStore before anything is written to it."""
        locator = store_locator(path)
        if locator.path is not None:
            check_store_path(locator.path)
        db = Database.open(locator, readonly=readonly, busy_timeout=busy_timeout)
        return cls(db)

    @staticmethod
    def migrate(path: str | os.PathLike[str] | StoreLocator) -> Migration:
        """Bring the store's schema to this Castiel's version (a new database gets the whole
        schema); what `castiel store migrate` runs. Safe to run from several machines."""
        db = Database.connect(store_locator(path))
        try:
            return db.migrate()
        finally:
            db.close()

    @property
    def dialect(self) -> str:
        """Which backend: "sqlite" or "postgresql"."""
        return self._db.dialect

    @property
    def database(self) -> Database:
        """The store's connection, for the tables alerting keeps in it (alerts.db): one pool
        per store, however many layers read it."""
        return self._db

    @property
    def schema_version(self) -> int:
        with self._db.read() as c:
            return migrations.schema_state(c).version

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _insert(self, table: Table) -> sqlite.Insert | postgresql.Insert:
        return dialect_insert(self._db.dialect, table)

    @staticmethod
    def _run_pk(c: Connection, run_id: str) -> int:
        pk = c.execute(select(runs.c.pk).where(runs.c.id == run_id)).scalar()
        if pk is None:
            raise UnknownRun(run_id)
        return int(pk)

    # --- runs ----------------------------------------------------------------------------

    def create_run(
        self,
        *,
        started_at: float,
        scenario: str = "",
        git_commit: str | None = None,
        git_branch: str | None = None,
        config_hash: str | None = None,
        environment: Mapping[str, str] | None = None,
        run_id: str | None = None,
    ) -> RunInfo:
        """A new run, status "running". Without `run_id` one is made up from the start time;
        on the rare collision with another writer's run a new one is drawn."""
        env = dict(environment or {})
        for _ in range(8):
            info = RunInfo(
                id=run_id or new_run_id(started_at),
                started_at=started_at,
                scenario=scenario,
                git_commit=git_commit,
                git_branch=git_branch,
                config_hash=config_hash,
                environment=env,
            )
            stmt = (
                self._insert(runs)
                .values(
                    id=info.id,
                    started_at=started_at,
                    scenario=scenario,
                    git_commit=git_commit,
                    git_branch=git_branch,
                    config_hash=config_hash,
                    environment=json.dumps(env, sort_keys=True),
                    status="running",
                )
                .on_conflict_do_nothing(index_elements=[runs.c.id])
                .returning(runs.c.pk)
            )
            with self._db.write() as c:
                created = c.execute(stmt).scalar()
            if created is not None:
                return info
            if run_id is not None:
                raise StoreError(f"{self.locator}: a run with id {run_id!r} already exists")
        raise StoreError(f"{self.locator}: could not draw an unused run id")

    def _update_run(self, run_id: str, **values: Any) -> None:
        with self._db.write() as c:
            if c.execute(update(runs).where(runs.c.id == run_id).values(**values)).rowcount == 0:
                raise UnknownRun(run_id)

    def finish_run(self, run_id: str, ended_at: float, status: str = "finished") -> None:
        self._update_run(run_id, ended_at=ended_at, status=status)

    def set_run_verdict(self, run_id: str, verdict: str) -> None:
        self._update_run(run_id, verdict=verdict)

    def set_phase(self, run_id: str, phase: str, at: float) -> None:
        """Record when a phase of the run began (first report wins)."""
        with self._db.write() as c:
            row = c.execute(
                select(runs.c.phases).where(runs.c.id == run_id).with_for_update()
            ).first()
            if row is None:
                raise UnknownRun(run_id)
            phases = json.loads(row[0])
            phases.setdefault(phase, at)
            c.execute(update(runs).where(runs.c.id == run_id).values(phases=json.dumps(phases)))

    def _runs(self, *where: Any, limit: int | None = None) -> list[RunInfo]:
        query = select(*_RUN_COLUMNS).where(*where).order_by(*_NEWEST_FIRST).limit(limit)
        with self._db.read() as c:
            return [_run_from_row(r) for r in c.execute(query)]

    def get_run(self, run_id: str) -> RunInfo:
        found = self._runs(runs.c.id == run_id)
        if not found:
            raise UnknownRun(run_id)
        return found[0]

    def latest_run(self) -> RunInfo | None:
        found = self._runs(limit=1)
        return found[0] if found else None

    def runs(self, limit: int = 50) -> list[RunInfo]:
        return self._runs(limit=limit)

    def last_passing_run(
        self, *, branch: str | None, scenario: str, before: float, exclude: str | None = None
    ) -> RunInfo | None:
        """The newest run on the same branch and scenario, started before `before`, whose
        recorded verdict passed (warnings allowed)."""
        where = [
            runs.c.git_branch.is_(None) if branch is None else runs.c.git_branch == branch,
            runs.c.scenario == scenario,
            runs.c.started_at < before,
            runs.c.verdict.in_(("pass", "warn")),
        ]
        if exclude is not None:
            where.append(runs.c.id != exclude)
        found = self._runs(*where, limit=1)
        return found[0] if found else None

    def find_runs(
        self,
        *,
        branches: Collection[str | None] | None = None,
        scenario: str | None = None,
        status: str | None = None,
        verdicts: Collection[str] | None = None,
        before: float | None = None,
        limit: int | None = 50,
    ) -> list[RunInfo]:
        """Runs newest first. Each filter left at None matches anything: `branches` (a None
        inside it matches runs without a branch), `scenario`, `status` (running, finished,
        aborted, broken), `verdicts` (pass, warn, fail), `before` (started strictly earlier).
        `limit=None` returns every match."""
        if (branches is not None and not branches) or (verdicts is not None and not verdicts):
            return []
        where: list[Any] = []
        if branches is not None:
            where.append(
                or_(
                    *(
                        runs.c.git_branch.is_(None) if b is None else runs.c.git_branch == b
                        for b in branches
                    )
                )
            )
        if scenario is not None:
            where.append(runs.c.scenario == scenario)
        if status is not None:
            where.append(runs.c.status == status)
        if verdicts is not None:
            where.append(runs.c.verdict.in_(tuple(verdicts)))
        if before is not None:
            where.append(runs.c.started_at < before)
        return self._runs(*where, limit=limit)

    def delete_run(self, run_id: str) -> None:
        """Delete one run with all its data, the baseline names that point at it, and the
        series no run uses any more. Raises UnknownRun."""
        with self._db.write() as c:
            pk = self._run_pk(c, run_id)
            c.execute(delete(baselines).where(baselines.c.run_pk == pk))
            c.execute(delete(runs).where(runs.c.pk == pk))
            c.execute(
                delete(series).where(
                    ~series.c.id.in_(select(points.c.series_id)),
                    ~series.c.id.in_(select(histograms.c.series_id)),
                )
            )
        self._series_ids.forget()
        self._write_pks.clear()

    # --- baselines -----------------------------------------------------------------------

    def set_baseline(self, name: str, run_id: str, now: float) -> None:
        with self._db.write() as c:
            stmt = self._insert(baselines).values(
                name=name, run_pk=self._run_pk(c, run_id), created_at=now
            )
            c.execute(
                stmt.on_conflict_do_update(
                    index_elements=[baselines.c.name],
                    set_={"run_pk": stmt.excluded.run_pk, "created_at": stmt.excluded.created_at},
                )
            )

    def get_baseline(self, name: str) -> RunInfo | None:
        query = (
            select(runs.c.id)
            .select_from(baselines.join(runs, runs.c.pk == baselines.c.run_pk))
            .where(baselines.c.name == name)
        )
        with self._db.read() as c:
            run_id = c.execute(query).scalar()
        return None if run_id is None else self.get_run(run_id)

    def baselines(self) -> dict[str, str]:
        """Every named baseline: {name: run id}."""
        query = (
            select(baselines.c.name, runs.c.id)
            .select_from(baselines.join(runs, runs.c.pk == baselines.c.run_pk))
            .order_by(baselines.c.name)
        )
        with self._db.read() as c:
            return {str(name): str(run_id) for name, run_id in c.execute(query)}

    # --- samples -------------------------------------------------------------------------

    def write(self, run_id: str, batch: Batch) -> None:
        """Store one batch atomically: readers see all of it or none of it."""
        if not len(batch):
            return
        try:
            with self._db.write() as c:
                pk = self._write_pks.get(run_id) or self._run_pk(c, run_id)
                samples.insert_batch(c, pk, self._series_ids, batch)
            self._write_pks[run_id] = pk  # a run keeps its pk: one round trip less a batch
        except BaseException:
            self._series_ids.forget()  # ids made in a rolled-back transaction are gone
            self._write_pks.clear()
            raise

    def holds(self, run_id: str, batch: Batch) -> bool:
        """Whether every sample of `batch` is stored in the run already: after a connection
        dropped during a write's commit, this tells whether the write happened
        (`collectors.store_buffer` asks before writing the batch again)."""
        with self._db.read() as c:
            return samples.holds(c, self._run_pk(c, run_id), batch)

    def series(self, run_id: str) -> list[tuple[SeriesKey, MetricKind]]:
        """Every series the run has data for."""
        with self._db.read() as c:
            return samples.run_series(c, self._run_pk(c, run_id))

    def load_series(
        self,
        run_id: str,
        keys: Collection[SeriesKey] | None = None,
        start: float | None = None,
        end: float | None = None,
    ) -> list[SeriesData]:
        """The run's data for `keys` (all series when None), optionally within [start, end]
        (histograms by interval end). One consistent snapshot even while a writer appends;
        three queries whatever the size of the run."""
        with self._db.read(snapshot=True) as c:
            return samples.load(c, self._run_pk(c, run_id), keys, start, end)

    # --- verdicts ------------------------------------------------------------------------

    def record_verdicts(
        self,
        run_id: str,
        records: Sequence[VerdictRecord],
        *,
        source: str = "check",
        replace: bool = True,
    ) -> None:
        """Store verdicts of one evaluation; `replace` drops earlier ones from `source`."""
        with self._db.write() as c:
            pk = self._run_pk(c, run_id)
            if replace:
                c.execute(
                    delete(verdicts).where(verdicts.c.run_pk == pk, verdicts.c.source == source)
                )
            if records:
                c.execute(
                    verdicts.insert(),
                    [
                        {
                            "run_pk": pk,
                            "source": source,
                            "evaluated_at": r.evaluated_at,
                            "budget": r.budget,
                            "group_key": json.dumps(dict(r.group), sort_keys=True),
                            "status": r.status,
                            "payload": json.dumps(dict(r.payload), sort_keys=True),
                        }
                        for r in records
                    ],
                )

    def verdicts(self, run_id: str, source: str | None = None) -> list[VerdictRecord]:
        with self._db.read() as c:
            pk = self._run_pk(c, run_id)
            query = _verdict_query(source).where(verdicts.c.run_pk == pk)
            rows = c.execute(query.order_by(verdicts.c.id)).all()
        return [_verdict_from_row(r) for r in rows]

    def verdicts_of(
        self, run_ids: Sequence[str], source: str | None = None
    ) -> dict[str, list[VerdictRecord]]:
        """The verdicts of many runs in one query (a history of 50 runs is one round trip to
        a PostgreSQL store, not 50): {run id: its verdicts, as `verdicts` returns them}. A
        run without verdicts, or unknown (pruned since it was listed), is left out."""
        out: dict[str, list[VerdictRecord]] = {}
        wanted = list(dict.fromkeys(run_ids))
        with self._db.read() as c:
            for i in range(0, len(wanted), _IDS_PER_QUERY):
                query = (
                    _verdict_query(source)
                    .add_columns(runs.c.id)
                    .select_from(verdicts.join(runs, runs.c.pk == verdicts.c.run_pk))
                    .where(runs.c.id.in_(wanted[i : i + _IDS_PER_QUERY]))
                    .order_by(verdicts.c.id)
                )
                for r in c.execute(query):
                    out.setdefault(r[6], []).append(_verdict_from_row(r))
        return out

    # --- retention -----------------------------------------------------------------------

    def set_retention(self, policy: RetentionPolicy) -> None:
        value = json.dumps({"max_age_seconds": policy.max_age_seconds, "max_runs": policy.max_runs})
        with self._db.write() as c:
            stmt = self._insert(settings).values(key="retention", value=value)
            c.execute(
                stmt.on_conflict_do_update(
                    index_elements=[settings.c.key], set_={"value": stmt.excluded.value}
                )
            )

    def retention(self) -> RetentionPolicy:
        with self._db.read() as c:
            value = c.execute(
                select(settings.c.value).where(settings.c.key == "retention")
            ).scalar()
        if value is None:
            return RetentionPolicy()
        data = json.loads(value)
        return RetentionPolicy(data.get("max_age_seconds"), data.get("max_runs"))

    def prune(self, now: float, policy: RetentionPolicy | None = None) -> list[str]:
        """Delete runs outside the retention policy (the stored one by default) with all their
        data, then series no run uses. Returns the deleted run ids."""
        policy = policy or self.retention()
        with self._db.read() as c:
            rows = c.execute(
                select(runs.c.pk, runs.c.id, runs.c.started_at, runs.c.status).order_by(
                    *_NEWEST_FIRST
                )
            ).all()
            kept_baselines = set(c.execute(select(baselines.c.run_pk)).scalars())
        doomed: list[tuple[int, str]] = []
        for rank, (pk, run_id, started_at, status) in enumerate(rows):
            if status == "running" or pk in kept_baselines:
                continue
            too_old = (
                policy.max_age_seconds is not None and started_at < now - policy.max_age_seconds
            )
            too_many = policy.max_runs is not None and rank >= policy.max_runs
            if too_old or too_many:
                doomed.append((pk, run_id))
        if not doomed:
            return []
        with self._db.write() as c:
            # A baseline named in the meantime keeps its run (the foreign key would refuse).
            named = set(c.execute(select(baselines.c.run_pk)).scalars())
            doomed = [(pk, rid) for pk, rid in doomed if pk not in named]
            c.execute(delete(runs).where(runs.c.pk.in_([pk for pk, _ in doomed])))
            c.execute(
                delete(series).where(
                    ~series.c.id.in_(select(points.c.series_id)),
                    ~series.c.id.in_(select(histograms.c.series_id)),
                )
            )
        self._series_ids.forget()
        self._write_pks.clear()
        return [run_id for _, run_id in doomed]
