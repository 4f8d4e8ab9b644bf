"""The local metrics store: SQLite in WAL mode, one writer and any number of readers across
processes.

* Open a writer with `Store.open(path)` (creates the file and applies migrations) and readers
  with `Store.open(path, readonly=True)`. Each process (or thread) opens its own Store.
* Every write is one short `BEGIN IMMEDIATE` transaction, so readers always see whole batches
  and never block the writer (WAL). A second writer waits up to `busy_timeout` for the lock.
* The schema is versioned (`collectors.migrations`, `PRAGMA user_version`); a store written by a
  newer Castiel is refused rather than misread.
* Failures to open or read the file raise `StoreError` (a `RunBroken`: exit code 3); a path
  that names a directory or a file that is not a Castiel store raises `NotAStore` (a
  `BadInput`: exit code 2), before anything is written to it.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import sqlite3
import time
from collections import defaultdict
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from collectors.migrations import LATEST_VERSION, MIGRATIONS
from collectors.model import (
    Batch,
    Histogram,
    HistogramPoint,
    MetricKind,
    Point,
    RunInfo,
    SeriesData,
    SeriesKey,
)
from runtime.errors import BadInput, RunBroken

DEFAULT_PATH = Path(".castiel") / "castiel.db"

_WIDTHS = ((2, np.dtype("<u2"), 1 << 16), (4, np.dtype("<u4"), 1 << 32), (8, np.dtype("<u8"), 0))


class StoreError(RunBroken):
    """The store cannot be opened or read (missing, corrupt, newer schema, locked too long)."""


class NotAStore(StoreError, BadInput):
    """The path names a directory or a file that is not a Castiel store: the input is wrong
    (exit 2, `BadInput` wins), and existing `except StoreError` handlers still catch it."""


_SQLITE_MAGIC = b"SQLite format 3\x00"


def check_store_path(path: Path) -> None:
    """Raise NotAStore for a directory, a non-empty file that is not SQLite, or someone
    else's SQLite database (tables, but no Castiel schema version), so nothing is created
    inside a directory or written into another program's file."""
    if path.is_dir():
        raise NotAStore(f"{path} is a directory, not a Castiel store (give the store's file)")
    try:
        with path.open("rb") as f:
            head = f.read(len(_SQLITE_MAGIC))
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StoreError(f"{path}: {exc.strerror or exc}") from None
    if not head:
        return  # empty: a store not created yet
    if head != _SQLITE_MAGIC:
        raise NotAStore(f"{path} is not a Castiel store (not a database)")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        try:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            tables = conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return  # corrupt or locked: opening it says why (StoreError, exit 3)
    if version == 0 and tables:
        raise NotAStore(f"{path} is an SQLite database, but not a Castiel store")


class UnknownRun(KeyError):
    """No run with that id."""


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


def encode_counts(counts: np.ndarray[Any, Any]) -> bytes:
    top = int(counts.max()) if counts.size else 0
    for width, dtype, limit in _WIDTHS:
        if limit == 0 or top < limit:
            return bytes([width]) + counts.astype(dtype).tobytes()
    raise AssertionError("unreachable")


def decode_counts(blob: bytes) -> np.ndarray[Any, np.dtype[np.int64]]:
    width = blob[0]
    for w, dtype, _ in _WIDTHS:
        if w == width:
            return np.frombuffer(blob, dtype=dtype, offset=1).astype(np.int64)
    raise StoreError(f"histogram counts with unknown integer width {width}")


def _labels_json(key: SeriesKey) -> str:
    return json.dumps(dict(key.labels), sort_keys=True, separators=(",", ":"))


def new_run_id(now: float) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    return f"{stamp}-{secrets.token_hex(3)}"


class Store:
    def __init__(self, conn: sqlite3.Connection, path: Path, readonly: bool) -> None:
        self._conn = conn
        self.path = path
        self.readonly = readonly
        self._series_ids: dict[tuple[str, str], tuple[int, str]] = {}

    # --- opening -------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str] = DEFAULT_PATH,
        *,
        readonly: bool = False,
        busy_timeout: float = 30.0,
    ) -> Store:
        p = Path(path)
        check_store_path(p)
        try:
            if readonly:
                if not p.exists():
                    raise StoreError(f"{p}: no such store")
                conn = sqlite3.connect(
                    f"{p.resolve().as_uri()}?mode=ro",
                    uri=True,
                    timeout=busy_timeout,
                    isolation_level=None,
                )
            else:
                p.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(p, timeout=busy_timeout, isolation_level=None)
            store = cls(conn, p, readonly)
            try:
                store._setup()
            except BaseException:
                conn.close()
                raise
        except sqlite3.Error as exc:
            raise StoreError(f"{p}: {exc}") from exc
        except OSError as exc:
            raise StoreError(f"{p}: {exc.strerror or exc}") from exc
        return store

    def _setup(self) -> None:
        c = self._conn
        c.execute("PRAGMA foreign_keys = ON")
        version = int(c.execute("PRAGMA user_version").fetchone()[0])
        if version > LATEST_VERSION:
            raise StoreError(
                f"{self.path}: schema version {version} is newer than this Castiel "
                f"understands ({LATEST_VERSION}); upgrade Castiel"
            )
        if self.readonly:
            if version < LATEST_VERSION:
                raise StoreError(
                    f"{self.path}: schema version {version} needs migrating; open it once "
                    "for writing (any castiel command that records) first"
                )
            return
        if c.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
            raise StoreError(f"{self.path}: could not switch to WAL mode")
        c.execute("PRAGMA synchronous = NORMAL")
        self._migrate(version)

    def _migrate(self, current: int) -> None:
        for m in MIGRATIONS:
            if m.version <= current:
                continue
            # executescript commits first, so wrap each migration in its own transaction.
            self._conn.executescript(
                f"BEGIN IMMEDIATE;\n{m.sql}\nPRAGMA user_version = {m.version};\nCOMMIT;"
            )

    @property
    def schema_version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        if self.readonly:
            raise StoreError(f"{self.path}: opened read-only")
        c = self._conn
        try:
            c.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreError(f"{self.path}: {exc}") from exc
        try:
            yield c
        except BaseException:
            c.execute("ROLLBACK")
            raise
        c.execute("COMMIT")

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: {exc}") from exc

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
        info = RunInfo(
            id=run_id or new_run_id(started_at),
            started_at=started_at,
            scenario=scenario,
            git_commit=git_commit,
            git_branch=git_branch,
            config_hash=config_hash,
            environment=dict(environment or {}),
        )
        with self._write() as c:
            c.execute(
                "INSERT INTO runs (id, started_at, scenario, git_commit, git_branch, "
                "config_hash, environment, status) VALUES (?, ?, ?, ?, ?, ?, ?, 'running')",
                (
                    info.id,
                    started_at,
                    scenario,
                    git_commit,
                    git_branch,
                    config_hash,
                    json.dumps(dict(info.environment), sort_keys=True),
                ),
            )
        return info

    def finish_run(self, run_id: str, ended_at: float, status: str = "finished") -> None:
        with self._write() as c:
            cur = c.execute(
                "UPDATE runs SET ended_at = ?, status = ? WHERE id = ?", (ended_at, status, run_id)
            )
            if cur.rowcount == 0:
                raise UnknownRun(run_id)

    def set_run_verdict(self, run_id: str, verdict: str) -> None:
        with self._write() as c:
            if (
                c.execute("UPDATE runs SET verdict = ? WHERE id = ?", (verdict, run_id)).rowcount
                == 0
            ):
                raise UnknownRun(run_id)

    def set_phase(self, run_id: str, phase: str, at: float) -> None:
        """Record when a phase of the run began (first report wins)."""
        with self._write() as c:
            row = c.execute("SELECT phases FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise UnknownRun(run_id)
            phases = json.loads(row[0])
            phases.setdefault(phase, at)
            c.execute("UPDATE runs SET phases = ? WHERE id = ?", (json.dumps(phases), run_id))

    @staticmethod
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

    def get_run(self, run_id: str) -> RunInfo:
        rows = self._read(
            "SELECT id, started_at, ended_at, scenario, git_commit, git_branch, config_hash, "
            "environment, status, verdict, phases FROM runs WHERE id = ?",
            (run_id,),
        )
        if not rows:
            raise UnknownRun(run_id)
        return self._run_from_row(rows[0])

    def latest_run(self) -> RunInfo | None:
        rows = self._read(
            "SELECT id, started_at, ended_at, scenario, git_commit, git_branch, config_hash, "
            "environment, status, verdict, phases FROM runs "
            "ORDER BY started_at DESC, pk DESC LIMIT 1"
        )
        return self._run_from_row(rows[0]) if rows else None

    def runs(self, limit: int = 50) -> list[RunInfo]:
        rows = self._read(
            "SELECT id, started_at, ended_at, scenario, git_commit, git_branch, config_hash, "
            "environment, status, verdict, phases FROM runs "
            "ORDER BY started_at DESC, pk DESC LIMIT ?",
            (limit,),
        )
        return [self._run_from_row(r) for r in rows]

    def last_passing_run(
        self, *, branch: str | None, scenario: str, before: float, exclude: str | None = None
    ) -> RunInfo | None:
        """The newest run on the same branch and scenario, started before `before`, whose
        recorded verdict passed (warnings allowed)."""
        rows = self._read(
            "SELECT id, started_at, ended_at, scenario, git_commit, git_branch, config_hash, "
            "environment, status, verdict, phases FROM runs WHERE git_branch IS ? AND scenario = ? "
            "AND started_at < ? AND verdict IN ('pass', 'warn') AND id IS NOT ? "
            "ORDER BY started_at DESC, pk DESC LIMIT 1",
            (branch, scenario, before, exclude),
        )
        return self._run_from_row(rows[0]) if rows else None

    def _run_pk(self, run_id: str) -> int:
        rows = self._read("SELECT pk FROM runs WHERE id = ?", (run_id,))
        if not rows:
            raise UnknownRun(run_id)
        return int(rows[0][0])

    # --- baselines -----------------------------------------------------------------------

    def set_baseline(self, name: str, run_id: str, now: float) -> None:
        pk = self._run_pk(run_id)
        with self._write() as c:
            c.execute(
                "INSERT INTO baselines (name, run_pk, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET run_pk = excluded.run_pk, "
                "created_at = excluded.created_at",
                (name, pk, now),
            )

    def get_baseline(self, name: str) -> RunInfo | None:
        rows = self._read(
            "SELECT r.id FROM baselines b JOIN runs r ON r.pk = b.run_pk WHERE b.name = ?", (name,)
        )
        return self.get_run(rows[0][0]) if rows else None

    # --- samples -------------------------------------------------------------------------

    def _series_id(self, c: sqlite3.Connection, key: SeriesKey, kind: MetricKind) -> int:
        labels = _labels_json(key)
        cached = self._series_ids.get((key.name, labels))
        if cached is None:
            row = c.execute(
                "SELECT id, kind FROM series WHERE name = ? AND labels = ?", (key.name, labels)
            ).fetchone()
            if row is None:
                cur = c.execute(
                    "INSERT INTO series (name, labels, kind) VALUES (?, ?, ?)",
                    (key.name, labels, kind.value),
                )
                assert cur.lastrowid is not None
                row = (cur.lastrowid, kind.value)
            cached = (int(row[0]), str(row[1]))
            self._series_ids[(key.name, labels)] = cached
        if cached[1] != kind.value:
            raise ValueError(f"series {key} is a {cached[1]}, not a {kind.value}")
        return cached[0]

    def write(self, run_id: str, batch: Batch) -> None:
        """Store one batch atomically: readers see all of it or none of it."""
        pk = self._run_pk(run_id)
        try:
            with self._write() as c:
                points = [
                    (pk, self._series_id(c, s.key, s.kind), s.point.timestamp, s.point.value)
                    for s in batch.scalars
                ]
                hists = []
                for hs in batch.histograms:
                    h = hs.point.histogram
                    hists.append(
                        (
                            pk,
                            self._series_id(c, hs.key, MetricKind.HISTOGRAM),
                            hs.point.start,
                            hs.point.end,
                            h.offset,
                            encode_counts(h.counts),
                            h.zero_count,
                            h.total,
                            h.min if math.isfinite(h.min) else None,
                            h.max if math.isfinite(h.max) else None,
                        )
                    )
                c.executemany("INSERT INTO points VALUES (?, ?, ?, ?)", points)
                c.executemany("INSERT INTO histograms VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", hists)
        except BaseException:
            # Series ids created inside the rolled-back transaction no longer exist.
            self._series_ids.clear()
            raise

    def series(self, run_id: str) -> list[tuple[SeriesKey, MetricKind]]:
        """Every series the run has data for."""
        pk = self._run_pk(run_id)
        rows = self._read(
            "SELECT s.name, s.labels, s.kind FROM series s WHERE s.id IN ("
            "SELECT series_id FROM points WHERE run_pk = ?1 UNION "
            "SELECT series_id FROM histograms WHERE run_pk = ?1) ORDER BY s.name, s.labels",
            (pk,),
        )
        return [(SeriesKey.of(r[0], json.loads(r[1])), MetricKind(r[2])) for r in rows]

    def load_series(
        self,
        run_id: str,
        keys: Collection[SeriesKey] | None = None,
        start: float | None = None,
        end: float | None = None,
    ) -> list[SeriesData]:
        """The run's data for `keys` (all series when None), optionally within [start, end]
        (histograms by interval end). One consistent snapshot even while a writer appends."""
        pk = self._run_pk(run_id)
        lo = -math.inf if start is None else start
        hi = math.inf if end is None else end
        wanted = None if keys is None else set(keys)
        try:
            self._conn.execute("BEGIN")  # one read transaction = one snapshot
            try:
                meta = {
                    int(r[0]): (SeriesKey.of(r[1], json.loads(r[2])), MetricKind(r[3]))
                    for r in self._conn.execute("SELECT id, name, labels, kind FROM series")
                }
                ids = {i for i, (k, _) in meta.items() if wanted is None or k in wanted}
                points: dict[int, list[Point]] = defaultdict(list)
                hists: dict[int, list[HistogramPoint]] = defaultdict(list)
                for sid, ts, value in self._conn.execute(
                    "SELECT series_id, ts, value FROM points WHERE run_pk = ? AND ts >= ? "
                    "AND ts <= ? ORDER BY series_id, ts",
                    (pk, lo, hi),
                ):
                    if sid in ids:
                        points[sid].append(Point(ts, value))
                for row in self._conn.execute(
                    'SELECT series_id, start, "end", "offset", counts, zero_count, total, min, max '
                    'FROM histograms WHERE run_pk = ? AND "end" >= ? AND "end" <= ? '
                    'ORDER BY series_id, "end"',
                    (pk, lo, hi),
                ):
                    if row[0] not in ids:
                        continue
                    h = Histogram(
                        offset=row[3],
                        counts=decode_counts(row[4]),
                        zero_count=row[5],
                        total=row[6],
                        min=math.inf if row[7] is None else row[7],
                        max=-math.inf if row[8] is None else row[8],
                    )
                    hists[row[0]].append(HistogramPoint(row[1], row[2], h))
            finally:
                self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: {exc}") from exc
        out = []
        for sid in sorted(set(points) | set(hists), key=lambda i: meta[i][0]):
            key, kind = meta[sid]
            out.append(SeriesData(key, kind, tuple(points[sid]), tuple(hists[sid])))
        return out

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
        pk = self._run_pk(run_id)
        with self._write() as c:
            if replace:
                c.execute("DELETE FROM verdicts WHERE run_pk = ? AND source = ?", (pk, source))
            c.executemany(
                "INSERT INTO verdicts (run_pk, source, evaluated_at, budget, group_key, status, "
                "payload) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        pk,
                        source,
                        r.evaluated_at,
                        r.budget,
                        json.dumps(dict(r.group), sort_keys=True),
                        r.status,
                        json.dumps(dict(r.payload), sort_keys=True),
                    )
                    for r in records
                ],
            )

    def verdicts(self, run_id: str, source: str | None = None) -> list[VerdictRecord]:
        pk = self._run_pk(run_id)
        rows = self._read(
            "SELECT budget, group_key, status, payload, evaluated_at, source FROM verdicts "
            "WHERE run_pk = ? AND (?2 IS NULL OR source = ?2) ORDER BY id",
            (pk, source),
        )
        return [
            VerdictRecord(r[0], json.loads(r[1]), r[2], json.loads(r[3]), r[4], r[5]) for r in rows
        ]

    # --- retention -----------------------------------------------------------------------

    def set_retention(self, policy: RetentionPolicy) -> None:
        value = json.dumps({"max_age_seconds": policy.max_age_seconds, "max_runs": policy.max_runs})
        with self._write() as c:
            c.execute(
                "INSERT INTO settings (key, value) VALUES ('retention', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (value,),
            )

    def retention(self) -> RetentionPolicy:
        rows = self._read("SELECT value FROM settings WHERE key = 'retention'")
        if not rows:
            return RetentionPolicy()
        data = json.loads(rows[0][0])
        return RetentionPolicy(data.get("max_age_seconds"), data.get("max_runs"))

    def prune(self, now: float, policy: RetentionPolicy | None = None) -> list[str]:
        """Delete runs outside the retention policy (the stored one by default) with all their
        data, then series no run uses. Returns the deleted run ids."""
        policy = policy or self.retention()
        rows = self._read(
            "SELECT pk, id, started_at, status FROM runs ORDER BY started_at DESC, pk DESC"
        )
        kept_baselines = {int(r[0]) for r in self._read("SELECT run_pk FROM baselines")}
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
        with self._write() as c:
            c.executemany("DELETE FROM runs WHERE pk = ?", [(pk,) for pk, _ in doomed])
            c.execute(
                "DELETE FROM series WHERE id NOT IN (SELECT series_id FROM points) "
                "AND id NOT IN (SELECT series_id FROM histograms)"
            )
        self._series_ids.clear()
        return [run_id for _, run_id in doomed]

    # --- run bundles and baseline selection (issue 16) -----------------------------------
    # Three small queries the bundle commands (`castiel runs ...`) and like-for-like baseline
    # selection need beyond the methods above.

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
        where: list[str] = []
        params: list[Any] = []
        if branches is not None:
            if not branches:
                return []
            where.append("(" + " OR ".join("git_branch IS ?" for _ in branches) + ")")
            params.extend(branches)
        for column, value in (("scenario", scenario), ("status", status)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if verdicts is not None:
            if not verdicts:
                return []
            where.append("verdict IN (" + ", ".join("?" for _ in verdicts) + ")")
            params.extend(verdicts)
        if before is not None:
            where.append("started_at < ?")
            params.append(before)
        # Only fixed fragments are joined here; every value is a bound parameter.
        sql = (
            "SELECT id, started_at, ended_at, scenario, git_commit, git_branch, config_hash, "  # noqa: S608
            "environment, status, verdict, phases FROM runs"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY started_at DESC, pk DESC"
        )
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [self._run_from_row(r) for r in self._read(sql, params)]

    def baselines(self) -> dict[str, str]:
        """Every named baseline: {name: run id}."""
        rows = self._read(
            "SELECT b.name, r.id FROM baselines b JOIN runs r ON r.pk = b.run_pk ORDER BY b.name"
        )
        return {str(name): str(run_id) for name, run_id in rows}

    def delete_run(self, run_id: str) -> None:
        """Delete one run with all its data, the baseline names that point at it, and the
        series no run uses any more. Raises UnknownRun."""
        pk = self._run_pk(run_id)
        with self._write() as c:
            c.execute("DELETE FROM baselines WHERE run_pk = ?", (pk,))
            c.execute("DELETE FROM runs WHERE pk = ?", (pk,))
            c.execute(
                "DELETE FROM series WHERE id NOT IN (SELECT series_id FROM points) "
                "AND id NOT IN (SELECT series_id FROM histograms)"
            )
        self._series_ids.clear()
