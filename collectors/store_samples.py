"""The store's time series in SQL: series ids, batch inserts, snapshot loads. Functions of an
open connection (`collectors.store.Store` owns the transactions), the same on both backends.

Volume is the point here: a batch is two multi-row inserts (points; histograms with their
bucket counts as one binary value each), and a load is three queries whatever the run's
length, never a round trip per row or per series."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np
from sqlalchemy import Connection, Select, select, tuple_

from collectors.database import dialect_insert
from collectors.model import (
    Batch,
    Histogram,
    HistogramPoint,
    MetricKind,
    Point,
    SeriesData,
    SeriesKey,
)
from collectors.schema import histograms, points, series
from collectors.store_errors import StoreError

_WIDTHS = ((2, np.dtype("<u2"), 1 << 16), (4, np.dtype("<u4"), 1 << 32), (8, np.dtype("<u8"), 0))
_HIST_COLUMNS = (
    "series_id",
    "start",
    "end",
    "offset",
    "counts",
    "zero_count",
    "total",
    "min",
    "max",
)


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


def labels_json(key: SeriesKey) -> str:
    return json.dumps(dict(key.labels), sort_keys=True, separators=(",", ":"))


class SeriesIds:
    """Series ids by key, created on first use and remembered by this writer."""

    def __init__(self, dialect: str) -> None:
        self._dialect = dialect
        self._known: dict[SeriesKey, tuple[int, str]] = {}

    def forget(self) -> None:
        """After a rollback (ids made in it are gone) or a prune (ids may be deleted)."""
        self._known.clear()

    def ids_for(
        self, c: Connection, wanted: Mapping[SeriesKey, MetricKind]
    ) -> dict[SeriesKey, int]:
        """Ids of these series, creating the missing ones. Concurrent writers may create the
        same series: inserts are sorted (so two writers never wait on each other in a
        cycle) and ignore conflicts, then the ids are read back."""
        missing = {k for k in wanted if k not in self._known}
        if missing:
            rows = sorted((k.name, labels_json(k), wanted[k].value) for k in missing)
            c.execute(
                dialect_insert(self._dialect, series).on_conflict_do_nothing(
                    index_elements=[series.c.name, series.c.labels]
                ),
                [{"name": n, "labels": lb, "kind": kind} for n, lb, kind in rows],
            )
            for sid, (key, stored) in series_meta(c, missing).items():
                self._known[key] = (sid, stored.value)
        out: dict[SeriesKey, int] = {}
        for key, want in wanted.items():
            sid, kind = self._known[key]
            if kind != want.value:
                raise ValueError(f"series {key} is a {kind}, not a {want.value}")
            out[key] = sid
        return out


def insert_batch(c: Connection, pk: int, ids: SeriesIds, batch: Batch) -> None:
    """Two bulk inserts in the caller's transaction: PostgreSQL's COPY, SQLite's executemany,
    at the driver (SQLAlchemy's per-row parameter processing costs more than the database).
    Rows follow the column order of the Table objects."""
    kinds: dict[SeriesKey, MetricKind] = {s.key: s.kind for s in batch.scalars}
    kinds.update({h.key: MetricKind.HISTOGRAM for h in batch.histograms})
    sid = ids.ids_for(c, kinds)
    work = (
        (points, [(pk, sid[s.key], s.point.timestamp, s.point.value) for s in batch.scalars]),
        (histograms, [_histogram_row(pk, sid[h.key], h.point) for h in batch.histograms]),
    )
    raw: Any = c.connection.driver_connection
    for table, rows in work:
        if not rows:
            continue
        names = ", ".join(f'"{col.name}"' for col in table.columns)
        if c.dialect.name == "postgresql":
            with raw.cursor().copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" * len(table.columns))
            insert = f"INSERT INTO {table.name} ({names}) VALUES ({marks})"  # noqa: S608 - names from the schema
            raw.executemany(insert, rows)


def holds(c: Connection, pk: int, batch: Batch) -> bool:
    """Whether every sample of `batch` is stored in run `pk`."""
    keys = {s.key for s in batch.scalars} | {h.key for h in batch.histograms}
    ids = {key: sid for sid, (key, _) in series_meta(c, keys).items()}
    if len(ids) < len(keys):
        return False
    want_points = {(ids[s.key], s.point.timestamp, s.point.value) for s in batch.scalars}
    want_hists = {(ids[h.key], h.point.start, h.point.end) for h in batch.histograms}
    if want_points:
        found = c.execute(
            select(points.c.series_id, points.c.ts, points.c.value).where(
                points.c.run_pk == pk,
                tuple_(points.c.series_id, points.c.ts).in_(sorted(p[:2] for p in want_points)),
            )
        )
        if not want_points <= {tuple(r) for r in found}:
            return False
    if want_hists:
        found = c.execute(
            select(histograms.c.series_id, histograms.c.start, histograms.c.end).where(
                histograms.c.run_pk == pk,
                tuple_(histograms.c.series_id, histograms.c.end).in_(
                    sorted((h[0], h[2]) for h in want_hists)
                ),
            )
        )
        if not want_hists <= {tuple(r) for r in found}:
            return False
    return True


def run_series(c: Connection, pk: int) -> list[tuple[SeriesKey, MetricKind]]:
    used = (
        select(points.c.series_id)
        .where(points.c.run_pk == pk)
        .union(select(histograms.c.series_id).where(histograms.c.run_pk == pk))
    )
    rows = c.execute(
        select(series.c.name, series.c.labels, series.c.kind)
        .where(series.c.id.in_(used))
        .order_by(series.c.name, series.c.labels)
    ).all()
    return [(SeriesKey.of(r[0], json.loads(r[1])), MetricKind(r[2])) for r in rows]


def load(
    c: Connection,
    pk: int,
    keys: Collection[SeriesKey] | None,
    start: float | None = None,
    end: float | None = None,
) -> list[SeriesData]:
    """Run `pk`'s series (`keys`, or all) within [start, end], in three queries."""
    meta = series_meta(c, keys)
    pq = select(points.c.series_id, points.c.ts, points.c.value).where(points.c.run_pk == pk)
    hq = select(*(histograms.c[n] for n in _HIST_COLUMNS)).where(histograms.c.run_pk == pk)
    if start is not None:
        pq = pq.where(points.c.ts >= start)
        hq = hq.where(histograms.c.end >= start)
    if end is not None:
        pq = pq.where(points.c.ts <= end)
        hq = hq.where(histograms.c.end <= end)
    if keys is not None:
        pq = pq.where(points.c.series_id.in_(sorted(meta)))
        hq = hq.where(histograms.c.series_id.in_(sorted(meta)))
    point_rows = _fetch(c, pq.order_by(points.c.series_id, points.c.ts))
    hist_rows = _fetch(c, hq.order_by(histograms.c.series_id, histograms.c.end))
    if keys is None:
        meta = series_meta(c, None, {r[0] for r in point_rows} | {r[0] for r in hist_rows})
    by_points: dict[int, list[Point]] = defaultdict(list)
    for sid, ts, value in point_rows:
        by_points[sid].append(Point(ts, value))
    by_hists: dict[int, list[HistogramPoint]] = defaultdict(list)
    for row in hist_rows:
        by_hists[row[0]].append(_histogram_point(row))
    out = []
    for sid in sorted(set(by_points) | set(by_hists), key=lambda i: meta[i][0]):
        key, kind = meta[sid]
        out.append(SeriesData(key, kind, tuple(by_points[sid]), tuple(by_hists[sid])))
    return out


def _fetch(c: Connection, query: Select[Any]) -> list[tuple[Any, ...]]:
    """Rows as plain tuples straight from the driver, in the caller's transaction: for the
    hundreds of thousands of rows of a long run, SQLAlchemy's Row objects cost more than the
    query. The statement is still built from the schema; its only values are numbers."""
    sql = str(query.compile(dialect=c.dialect, compile_kwargs={"literal_binds": True}))
    raw: Any = c.connection.driver_connection
    if c.dialect.name == "postgresql":
        with raw.cursor(binary=True) as cur:  # bytea as bytes, doubles without text parsing
            return list(cur.execute(sql).fetchall())
    return list(raw.execute(sql).fetchall())


def series_meta(
    c: Connection, keys: Collection[SeriesKey] | None, ids: Collection[int] = ()
) -> dict[int, tuple[SeriesKey, MetricKind]]:
    """Series by id: those named by `keys`, else those with these `ids`."""
    query = select(series.c.id, series.c.name, series.c.labels, series.c.kind)
    if keys is not None:
        wanted = sorted({(k.name, labels_json(k)) for k in keys})
        if not wanted:
            return {}
        query = query.where(tuple_(series.c.name, series.c.labels).in_(wanted))
    else:
        if not ids:
            return {}
        query = query.where(series.c.id.in_(sorted(ids)))
    return {
        int(r[0]): (SeriesKey.of(r[1], json.loads(r[2])), MetricKind(r[3]))
        for r in c.execute(query)
    }


def _histogram_row(pk: int, series_id: int, point: HistogramPoint) -> tuple[Any, ...]:
    h = point.histogram
    return (
        pk,
        series_id,
        point.start,
        point.end,
        h.offset,
        encode_counts(h.counts),
        h.zero_count,
        h.total,
        h.min if math.isfinite(h.min) else None,
        h.max if math.isfinite(h.max) else None,
    )


def _histogram_point(row: Sequence[Any]) -> HistogramPoint:
    h = Histogram(
        offset=row[3],
        counts=decode_counts(bytes(row[4])),
        zero_count=row[5],
        total=row[6],
        min=math.inf if row[7] is None else row[7],
        max=-math.inf if row[8] is None else row[8],
    )
    return HistogramPoint(row[1], row[2], h)
