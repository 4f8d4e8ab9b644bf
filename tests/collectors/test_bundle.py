"""Run bundles: the file format (exact round trip, every kind of damage refused with the file
and line named) and moving runs between real stores (idempotent import)."""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest

from collectors.bundle import VERSION, BundleError, read_bundle, write_bundle
from collectors.bundle_store import (
    ExportError,
    ImportConflict,
    Imported,
    export_run,
    import_bundle,
)
from collectors.model import Batch, Histogram, HistogramBuilder, SeriesKey
from collectors.store import Store, VerdictRecord

LATENCY = SeriesKey.of("locust_request_duration_seconds", {"name": "/items", "method": "GET"})
REQUESTS = SeriesKey.of("locust_requests_total", {"name": "/items", "method": "GET"})
DEPTH = SeriesKey.of("castiel_queue_jobs", {"queue": "email", "state": "wait"})


def fill(store: Store, *, started: float = 1_000.0, seconds: int = 30) -> str:
    """A finished, evaluated run with every kind of data a bundle carries, edge values too."""
    run = store.create_run(
        started_at=started,
        scenario="peak",
        git_branch="main",
        git_commit="c0ffee",
        config_hash="abc",
        environment={"load.users": "5", "host": "ci-1"},
    )
    for i in range(1, seconds + 1):
        t = started + i
        b = Batch()
        h = HistogramBuilder()
        for k in range(i):
            h.record(0.01 * (k + 1))
        b.add_histogram(LATENCY, t - 1, t, h.build())
        b.add_increment(REQUESTS, t, float(i))
        b.add_gauge(DEPTH, t, math.inf if i == 7 else i / 3.0)
        store.write(run.id, b)
    empty = Batch()
    empty.add_histogram(LATENCY, started + seconds, started + seconds + 1, Histogram())
    store.write(run.id, empty)
    store.set_phase(run.id, "spawning_complete", started + 3.5)
    store.record_verdicts(
        run.id,
        [
            VerdictRecord("p95", {"name": "/items"}, "pass", {"observed": 0.25}, started + 40),
            VerdictRecord("errors", {}, "warn", {"observed": None, "why": "ünïcode"}, started + 40),
        ],
    )
    store.record_verdicts(
        run.id, [VerdictRecord("p95", {}, "pass", {}, started + 20)], source="live"
    )
    store.set_run_verdict(run.id, "warn")
    store.finish_run(run.id, started + seconds + 1)
    return run.id


def export_to(store_path: str | Path, run_id: str, path: Path) -> Path:
    with Store.open(store_path, readonly=True) as s:
        write_bundle(export_run(s, run_id, now=42.0), path)
    return path


@pytest.fixture
def source(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "source.db"
    with Store.open(path) as s:
        return path, fill(s)


def test_export_import_export_is_byte_identical(
    source: tuple[Path, str], store_locator: str, tmp_path: Path
) -> None:
    src, run_id = source
    first = export_to(src, run_id, tmp_path / "a.castiel.jsonl.gz")
    with Store.open(store_locator) as s:
        result = import_bundle(s, read_bundle(first), now=50.0)
    assert result.outcome is Imported.NEW
    second = export_to(store_locator, run_id, tmp_path / "b.castiel.jsonl.gz")
    assert first.read_bytes() == second.read_bytes()
    with Store.open(store_locator, readonly=True) as s:
        run = s.get_run(run_id)
        assert (run.status, run.verdict, run.ended_at) == ("finished", "warn", 1_031.0)
        assert run.phases == {"spawning_complete": 1_003.5}
        assert [v.source for v in s.verdicts(run_id)] == ["check", "check", "live"]
        (depth,) = s.load_series(run_id, [DEPTH])
        assert depth.points[6].value == math.inf and depth.points[7].value == 8 / 3.0
        (lat,) = s.load_series(run_id, [LATENCY])
        assert (
            lat.histograms[-1].histogram.count == 0 and lat.histograms[-1].histogram.min == math.inf
        )


def test_the_file_is_self_describing_json_lines(source: tuple[Path, str], tmp_path: Path) -> None:
    src, run_id = source
    path = export_to(src, run_id, tmp_path / "run.castiel.jsonl.gz")
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    header = json.loads(lines[0])
    assert header["format"] == "castiel-run-bundle" and header["version"] == VERSION
    assert header["castiel"] and header["run_id"] == run_id
    kinds = [json.loads(line)["record"] for line in lines]
    assert kinds[:2] == ["header", "run"] and kinds[-1] == "end"
    assert set(kinds) == {"header", "run", "series", "points", "histograms", "verdict", "end"}
    assert json.loads(lines[-1]) == {
        "record": "end",
        "series": 3,
        "points": 60,
        "histograms": 31,
        "verdicts": 3,
        "baselines": 0,
    }


def test_importing_twice_leaves_the_same_state(
    source: tuple[Path, str], store_locator: str, tmp_path: Path
) -> None:
    src, run_id = source
    bundle = read_bundle(export_to(src, run_id, tmp_path / "a.gz"))
    with Store.open(store_locator) as s:
        assert import_bundle(s, bundle, now=1.0).outcome is Imported.NEW
    once = export_to(store_locator, run_id, tmp_path / "once.gz").read_bytes()
    with Store.open(store_locator) as s:
        again = import_bundle(s, bundle, now=2.0)
        assert (again.outcome, again.differs) == (Imported.ALREADY, "")
        assert [r.id for r in s.runs()] == [run_id]
    assert export_to(store_locator, run_id, tmp_path / "twice.gz").read_bytes() == once


def test_a_copy_left_running_is_replaced_and_a_different_one_reported(
    source: tuple[Path, str], store_locator: str, tmp_path: Path
) -> None:
    src, run_id = source
    bundle = read_bundle(export_to(src, run_id, tmp_path / "a.gz"))
    with Store.open(store_locator) as s:
        s.create_run(started_at=1_000.0, run_id=run_id)  # an import or a run that was cut off
        assert import_bundle(s, bundle, now=1.0).outcome is Imported.REPLACED
        assert s.get_run(run_id).status == "finished"
        s.set_run_verdict(run_id, "fail")  # re-checked here with other budgets
        again = import_bundle(s, bundle, now=2.0)
        assert again.outcome is Imported.ALREADY
        assert again.differs == "its verdict here is fail, the bundle's is warn"
        assert s.get_run(run_id).verdict == "fail"


def test_baseline_names_travel_but_never_move_a_local_one(
    tmp_path: Path, store_locator: str
) -> None:
    src = tmp_path / "src.db"
    with Store.open(src) as s:
        run_id = fill(s)
        s.set_baseline("release-1", run_id, now=1.0)
        s.set_baseline("golden", run_id, now=1.0)
    bundle = read_bundle(export_to(src, run_id, tmp_path / "a.gz"))
    assert sorted(bundle.baselines) == ["golden", "release-1"]
    with Store.open(store_locator) as s:
        local = fill(s, started=5_000.0)
        s.set_baseline("golden", local, now=1.0)
        result = import_bundle(s, bundle, now=2.0)
        assert result.baselines_set == ("golden", "release-1")[1:]
        assert result.baselines_kept == (("golden", local),)
        assert s.baselines() == {"golden": local, "release-1": run_id}


def test_running_and_unknown_runs_cannot_be_exported(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.db") as s:
        live = s.create_run(started_at=1.0)
        with pytest.raises(ExportError, match="still running"):
            export_run(s, live.id, now=2.0)
        with pytest.raises(ExportError, match="no run with id 'nope'"):
            export_run(s, "nope", now=2.0)


def test_a_bundle_that_contradicts_the_store_is_refused_whole(
    source: tuple[Path, str], store_locator: str, tmp_path: Path
) -> None:
    src, run_id = source
    bundle = read_bundle(export_to(src, run_id, tmp_path / "a.gz"))
    with Store.open(store_locator) as s:
        other = s.create_run(started_at=1.0)
        b = Batch()
        b.add_gauge(REQUESTS, 2.0, 1.0)  # the same series as a gauge here
        s.write(other.id, b)
        with pytest.raises(ImportConflict, match=f"run {run_id} does not fit this store"):
            import_bundle(s, bundle, now=3.0)
        assert [r.id for r in s.runs()] == [other.id]  # nothing half-imported


# --- damage -----------------------------------------------------------------------------------


def rewrite(path: Path, change: Callable[[list[str]], list[str]]) -> Path:
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    out = path.with_name("damaged.gz")
    out.write_bytes(gzip.compress("".join(f"{x}\n" for x in change(lines)).encode()))
    return out


def _set(line: str, **fields: object) -> str:
    return json.dumps({**json.loads(line), **fields})


DAMAGE: dict[str, tuple[Callable[[Path], Path], str]] = {
    "not gzip": (
        lambda p: p.with_name("x.gz").write_text('{"record": "header"}') and p.with_name("x.gz"),
        r"x\.gz: not a Castiel run bundle \(not gzip-compressed",
    ),
    "truncated": (
        lambda p: (
            p.with_name("cut.gz").write_bytes(p.read_bytes()[: p.stat().st_size // 2])
            and p.with_name("cut.gz")
        ),
        r"cut\.gz: the file is cut short or damaged after line \d+",
    ),
    "newer version": (
        lambda p: rewrite(p, lambda ls: [_set(ls[0], version=VERSION + 1, castiel="9.0"), *ls[1:]]),
        rf"damaged\.gz:1: bundle format version {VERSION + 1} \(written by castiel 9\.0\) is "
        "newer than this Castiel reads",
    ),
    "no end record": (
        lambda p: rewrite(p, lambda ls: ls[:-1]),
        r"damaged\.gz: the file is cut short after line \d+ \(no end record\)",
    ),
    "a record dropped": (
        lambda p: rewrite(p, lambda ls: [x for x in ls if '"record":"verdict"' not in x]),
        r"damaged\.gz:\d+: the end record counts 3 verdicts but the file holds 0",
    ),
    "a broken line": (
        lambda p: rewrite(p, lambda ls: [*ls[:4], ls[4][:-9], *ls[5:]]),
        r"damaged\.gz:5: not a JSON record",
    ),
    "a wrong type": (
        lambda p: rewrite(
            p, lambda ls: [_set(x, values=["1"]) if '"record":"points"' in x else x for x in ls]
        ),
        r"damaged\.gz:\d+: points\.values: expected a number, got '1'",
    ),
    "a histogram without its zero count": (
        lambda p: rewrite(
            p,
            lambda ls: [
                _set(
                    x,
                    items=[
                        {k: v for k, v in i.items() if k != "zero"} for i in json.loads(x)["items"]
                    ],
                )
                if '"record":"histograms"' in x
                else x
                for x in ls
            ],
        ),
        r"damaged\.gz:\d+: histograms\.items: missing field 'zero'",
    ),
    "another file": (
        lambda p: rewrite(p, lambda ls: [json.dumps({"hello": 1}), *ls[1:]]),
        r"damaged\.gz:1: not a Castiel run bundle",
    ),
    "empty": (
        lambda p: rewrite(p, lambda ls: []),
        r"damaged\.gz: empty file",
    ),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_bundles_are_refused_naming_file_and_line(
    source: tuple[Path, str], tmp_path: Path, damage: str
) -> None:
    src, run_id = source
    good = export_to(src, run_id, tmp_path / "good.castiel.jsonl.gz")
    make, message = DAMAGE[damage]
    bad = make(good)
    with pytest.raises(BundleError, match=message) as err:
        read_bundle(bad)
    assert str(err.value).startswith(str(bad))
    assert "\n" not in str(err.value)
