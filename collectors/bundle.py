"""Run bundles: one run of the store as one self-describing, versioned file, so a run can
travel between machines (a CI artifact carrying the baseline for the next job).

The file is gzip-compressed JSON lines, one record per line, each with a `record` field:

    header      {"format": "castiel-run-bundle", "version": 1, "castiel": "0.1.0", ...}
    run         the run's metadata (id, times, scenario, git, environment, status, verdict)
    series      {"n": 0, "name": ..., "labels": {...}, "kind": "gauge|counter|histogram"}
    points      {"n": 0, "ts": [...], "values": [...]}           (gauges and counters)
    histograms  {"n": 0, "items": [{"start", "end", "offset", "counts", "zero", "sum",
                                    "min", "max"}, ...]}         (interval histograms)
    verdict     one stored verdict (budget, group, status, payload, evaluated_at, source)
    baseline    {"name": ...}: the run is the named baseline `name` in the store it left
    end         counts of everything above: a file cut short is detected, never half-read

Numbers are JSON numbers; non-finite ones are written as Python's json and JavaScript write
them (NaN, Infinity, -Infinity). Nothing is ever pickled. A reader refuses a bundle of a
newer format version, and reports any damage as `FILE:LINE: what is wrong` (BundleError,
a BadInput: exit 2).
"""

from __future__ import annotations

import gzip
import json
import math
import os
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from collectors.model import (
    Histogram,
    HistogramPoint,
    MetricKind,
    Point,
    RunInfo,
    SeriesData,
    SeriesKey,
)
from collectors.store import VerdictRecord
from runtime.errors import BadInput

FORMAT = "castiel-run-bundle"
VERSION = 1
SUFFIX = ".castiel.jsonl.gz"
"""The conventional file name ending; any name works."""
_POINTS_PER_RECORD = 2000
_HISTOGRAMS_PER_RECORD = 200


class BundleError(BadInput):
    """The file is not a readable bundle (not gzip, cut short, corrupt, newer format)."""


@dataclass(frozen=True)
class Bundle:
    run: RunInfo
    series: tuple[SeriesData, ...] = ()
    verdicts: tuple[VerdictRecord, ...] = ()
    baselines: tuple[str, ...] = ()
    """Names under which the run was a saved baseline in the store it was exported from."""
    castiel_version: str = ""
    created_at: float = 0.0


def castiel_version() -> str:
    try:
        return metadata.version("castiel")
    except metadata.PackageNotFoundError:
        return "unknown"


# --- writing -------------------------------------------------------------------------------


def write_bundle(bundle: Bundle, path: str | os.PathLike[str]) -> None:
    """Write atomically: a reader (or a CI upload step) never sees half a file."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with (
            open(tmp, "wb") as raw,
            gzip.GzipFile(filename="", fileobj=raw, mode="wb", compresslevel=6, mtime=0) as gz,
        ):
            for record in _records(bundle):
                gz.write(json.dumps(record, separators=(",", ":")).encode() + b"\n")
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise BadInput(f"cannot write {target}: {exc.strerror or exc}") from None


def _records(bundle: Bundle) -> Iterator[dict[str, Any]]:
    counts = {"series": 0, "points": 0, "histograms": 0, "verdicts": 0, "baselines": 0}
    yield {
        "record": "header",
        "format": FORMAT,
        "version": VERSION,
        "castiel": bundle.castiel_version or castiel_version(),
        "created_at": bundle.created_at,
        "run_id": bundle.run.id,
    }
    r = bundle.run
    yield {
        "record": "run",
        "id": r.id,
        "started_at": r.started_at,
        "ended_at": r.ended_at,
        "scenario": r.scenario,
        "git_commit": r.git_commit,
        "git_branch": r.git_branch,
        "config_hash": r.config_hash,
        "environment": dict(r.environment),
        "status": r.status,
        "verdict": r.verdict,
        "phases": dict(r.phases),
    }
    for n, s in enumerate(bundle.series):
        counts["series"] += 1
        yield {
            "record": "series",
            "n": n,
            "name": s.key.name,
            "labels": s.key.label_dict,
            "kind": s.kind.value,
        }
        for i in range(0, len(s.points), _POINTS_PER_RECORD):
            chunk = s.points[i : i + _POINTS_PER_RECORD]
            counts["points"] += len(chunk)
            yield {
                "record": "points",
                "n": n,
                "ts": [p.timestamp for p in chunk],
                "values": [p.value for p in chunk],
            }
        for i in range(0, len(s.histograms), _HISTOGRAMS_PER_RECORD):
            hchunk = s.histograms[i : i + _HISTOGRAMS_PER_RECORD]
            counts["histograms"] += len(hchunk)
            yield {"record": "histograms", "n": n, "items": [_histogram_json(h) for h in hchunk]}
    for v in bundle.verdicts:
        counts["verdicts"] += 1
        yield {
            "record": "verdict",
            "budget": v.budget,
            "group": dict(v.group),
            "status": v.status,
            "payload": dict(v.payload),
            "evaluated_at": v.evaluated_at,
            "source": v.source,
        }
    for name in bundle.baselines:
        counts["baselines"] += 1
        yield {"record": "baseline", "name": name}
    yield {"record": "end", **counts}


def _histogram_json(hp: HistogramPoint) -> dict[str, Any]:
    h = hp.histogram
    return {
        "start": hp.start,
        "end": hp.end,
        "offset": h.offset,
        "counts": h.counts.tolist(),
        "zero": h.zero_count,
        "sum": h.total,
        # As the store keeps them: an infinite extreme (an empty histogram) is null.
        "min": h.min if math.isfinite(h.min) else None,
        "max": h.max if math.isfinite(h.max) else None,
    }


# --- reading -------------------------------------------------------------------------------


def read_bundle(path: str | os.PathLike[str]) -> Bundle:
    """Raises BundleError naming the file (and the line) for anything but a whole bundle."""
    p = Path(path)
    try:
        raw = open(p, "rb")  # noqa: SIM115 - closed below, after the gzip reader
    except OSError as exc:
        raise BundleError(f"{p}: {exc.strerror or exc}") from None
    with raw:
        if raw.read(2) != b"\x1f\x8b":
            raise BundleError(
                f"{p}: not a Castiel run bundle (not gzip-compressed; a bundle is written by "
                "`castiel runs export`)"
            )
        raw.seek(0)
        reader = _Reader(p)
        try:
            with gzip.GzipFile(fileobj=raw, mode="rb") as gz:
                return reader.read(iter(gz))
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise BundleError(
                f"{p}: the file is cut short or damaged after line {reader.line} ({exc})"
            ) from None
        except OSError as exc:
            raise BundleError(f"{p}: {exc.strerror or exc}") from None


class _Reader:
    """Parses records in order, remembering where it is for error messages."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.line = 0

    def fail(self, message: str) -> BundleError:
        return BundleError(f"{self.path}:{self.line}: {message}")

    def read(self, lines: Iterator[bytes]) -> Bundle:
        records = self._records(lines)
        header = next(records, None)
        if header is None:
            raise BundleError(f"{self.path}: empty file (not a Castiel run bundle)")
        version, made_by, created_at = self._header(header)
        run = self._run(self._expect(next(records, None), "run"))
        state = _State()
        for rec in records:
            kind = rec.get("record")
            if kind == "end":
                self._end(rec, state)
                if next(records, None) is not None:
                    raise self.fail("a record after the end record")
                return Bundle(
                    run,
                    tuple(state.series_data()),
                    tuple(state.verdicts),
                    tuple(state.baselines),
                    made_by,
                    created_at,
                )
            handler = _HANDLERS.get(str(kind))
            if handler is None:
                raise self.fail(f"unknown record {kind!r} (format version {version})")
            handler(self, rec, state)
        raise BundleError(
            f"{self.path}: the file is cut short after line {self.line} (no end record)"
        )

    def _records(self, lines: Iterator[bytes]) -> Iterator[dict[str, Any]]:
        for raw in lines:
            self.line += 1
            try:
                rec = json.loads(raw)
            except (ValueError, UnicodeDecodeError, RecursionError) as exc:
                if self.line == 1:
                    raise self.fail(
                        f"not a Castiel run bundle (line 1 is not JSON: {exc})"
                    ) from None
                raise self.fail(f"not a JSON record ({exc})") from None
            if not isinstance(rec, dict):
                raise self.fail("expected a JSON object per line")
            yield rec

    def _expect(self, rec: dict[str, Any] | None, kind: str) -> dict[str, Any]:
        if rec is None:
            raise BundleError(f"{self.path}: the file is cut short after line {self.line}")
        if rec.get("record") != kind:
            raise self.fail(f"expected the {kind} record, found {rec.get('record')!r}")
        return rec

    def _header(self, rec: dict[str, Any]) -> tuple[int, str, float]:
        if rec.get("record") != "header" or rec.get("format") != FORMAT:
            raise self.fail(f"not a Castiel run bundle (no {FORMAT!r} header)")
        version = self.get(rec, "version", int)
        made_by = str(rec.get("castiel", "unknown"))
        if version > VERSION:
            raise self.fail(
                f"bundle format version {version} (written by castiel {made_by}) is newer "
                f"than this Castiel reads ({VERSION}); upgrade Castiel to import it"
            )
        if version < 1:
            raise self.fail(f"bundle format version {version} does not exist")
        return version, made_by, self.number(rec, "created_at")

    def _run(self, rec: dict[str, Any]) -> RunInfo:
        ended = rec.get("ended_at")
        return RunInfo(
            id=self.text(rec, "id"),
            started_at=self.number(rec, "started_at"),
            ended_at=None if ended is None else self.number(rec, "ended_at"),
            scenario=self.text(rec, "scenario"),
            git_commit=self.optional_text(rec, "git_commit"),
            git_branch=self.optional_text(rec, "git_branch"),
            config_hash=self.optional_text(rec, "config_hash"),
            environment=self.str_map(rec, "environment"),
            status=self.text(rec, "status"),
            verdict=self.optional_text(rec, "verdict"),
            phases={
                str(k): self._float(v, f"run.phases.{k}")
                for k, v in self.get(rec, "phases", dict).items()
            },
        )

    def _end(self, rec: dict[str, Any], state: _State) -> None:
        found = {
            "series": len(state.keys),
            "points": sum(len(p) for p in state.points.values()),
            "histograms": sum(len(h) for h in state.histograms.values()),
            "verdicts": len(state.verdicts),
            "baselines": len(state.baselines),
        }
        for name, count in found.items():
            if self.get(rec, name, int) != count:
                raise self.fail(
                    f"the end record counts {rec[name]} {name} but the file holds {count} "
                    "(records are missing or were added)"
                )

    # typed field access: every problem names the line and the field

    def get(self, rec: Mapping[str, Any], key: str, typ: type[Any]) -> Any:
        if key not in rec:
            raise self.fail(f"{_where(rec)}: missing field {key!r}")
        value = rec[key]
        if typ is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise self.fail(f"{_where(rec)}.{key}: expected an integer, got {_short(value)}")
        if not isinstance(value, typ):
            raise self.fail(f"{_where(rec)}.{key}: expected {typ.__name__}, got {_short(value)}")
        return value

    def text(self, rec: Mapping[str, Any], key: str) -> str:
        return str(self.get(rec, key, str))

    def optional_text(self, rec: Mapping[str, Any], key: str) -> str | None:
        return None if rec.get(key) is None else self.text(rec, key)

    def number(self, rec: Mapping[str, Any], key: str) -> float:
        if key not in rec:
            raise self.fail(f"{_where(rec)}: missing field {key!r}")
        return self._float(rec[key], f"{_where(rec)}.{key}")

    def _float(self, value: Any, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(f"{where}: expected a number, got {_short(value)}")
        return float(value)

    def floats(self, rec: Mapping[str, Any], key: str) -> list[float]:
        values = self.get(rec, key, list)
        where = f"{_where(rec)}.{key}"
        return [self._float(v, where) for v in values]

    def str_map(self, rec: Mapping[str, Any], key: str) -> dict[str, str]:
        value = self.get(rec, key, dict)
        if not all(isinstance(v, str) for v in value.values()):
            raise self.fail(f"{_where(rec)}.{key}: expected text values")
        return dict(value)


def _where(rec: Mapping[str, Any]) -> str:
    """The record a field belongs to; histogram items are the only objects without one."""
    kind = rec.get("record")
    return kind if isinstance(kind, str) else "histograms.items"


def _short(value: Any) -> str:
    """A value from the file, for a one-line message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass
class _State:
    keys: dict[int, tuple[SeriesKey, MetricKind]] = field(default_factory=dict)
    points: dict[int, list[Point]] = field(default_factory=dict)
    histograms: dict[int, list[HistogramPoint]] = field(default_factory=dict)
    verdicts: list[VerdictRecord] = field(default_factory=list)
    baselines: list[str] = field(default_factory=list)

    def series_data(self) -> Iterator[SeriesData]:
        for n, (key, kind) in self.keys.items():
            yield SeriesData(key, kind, tuple(self.points[n]), tuple(self.histograms[n]))


def _series(r: _Reader, rec: dict[str, Any], s: _State) -> None:
    n = r.get(rec, "n", int)
    if n in s.keys:
        raise r.fail(f"series {n} is defined twice")
    try:
        kind = MetricKind(r.text(rec, "kind"))
    except ValueError:
        raise r.fail(f"series.kind: unknown kind {rec['kind']!r}") from None
    s.keys[n] = (SeriesKey.of(r.text(rec, "name"), r.str_map(rec, "labels")), kind)
    s.points[n] = []
    s.histograms[n] = []


def _known(r: _Reader, rec: dict[str, Any], s: _State, want_histogram: bool) -> int:
    n = r.get(rec, "n", int)
    if n not in s.keys:
        raise r.fail(f"{rec['record']} of series {n}, which no earlier series record defines")
    if (s.keys[n][1] is MetricKind.HISTOGRAM) != want_histogram:
        raise r.fail(f"{rec['record']} for series {n}, a {s.keys[n][1].value}")
    return int(n)


def _points(r: _Reader, rec: dict[str, Any], s: _State) -> None:
    n = _known(r, rec, s, want_histogram=False)
    ts, values = r.floats(rec, "ts"), r.floats(rec, "values")
    if len(ts) != len(values):
        raise r.fail(f"points: {len(ts)} timestamps but {len(values)} values")
    s.points[n].extend(Point(t, v) for t, v in zip(ts, values, strict=True))


def _histograms(r: _Reader, rec: dict[str, Any], s: _State) -> None:
    n = _known(r, rec, s, want_histogram=True)
    for item in r.get(rec, "items", list):
        if not isinstance(item, dict):
            raise r.fail("histograms.items: expected objects")
        counts = r.get(item, "counts", list)
        if not all(type(c) is int and 0 <= c < 1 << 63 for c in counts):
            raise r.fail("histograms.items.counts: expected non-negative integers")
        zero = r.get(item, "zero", int)
        lo, hi = item.get("min"), item.get("max")
        h = Histogram(
            offset=r.get(item, "offset", int),
            counts=np.asarray(counts, dtype=np.int64),
            zero_count=zero,
            total=r.number(item, "sum"),
            min=math.inf if lo is None else r.number(item, "min"),
            max=-math.inf if hi is None else r.number(item, "max"),
        )
        s.histograms[n].append(HistogramPoint(r.number(item, "start"), r.number(item, "end"), h))


def _verdict(r: _Reader, rec: dict[str, Any], s: _State) -> None:
    s.verdicts.append(
        VerdictRecord(
            budget=r.text(rec, "budget"),
            group=r.str_map(rec, "group"),
            status=r.text(rec, "status"),
            payload=r.get(rec, "payload", dict),
            evaluated_at=r.number(rec, "evaluated_at"),
            source=r.text(rec, "source"),
        )
    )


def _baseline(r: _Reader, rec: dict[str, Any], s: _State) -> None:
    s.baselines.append(r.text(rec, "name"))


_HANDLERS = {
    "series": _series,
    "points": _points,
    "histograms": _histograms,
    "verdict": _verdict,
    "baseline": _baseline,
}
