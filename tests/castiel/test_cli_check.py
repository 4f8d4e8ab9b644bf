"""`castiel check` end to end: a store holding real runs written through the store API, the
example budget file, reports on disk, exit codes 0/1/2/3, baselines across runs."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import xml.etree.ElementTree as ET
from html import escape
from pathlib import Path

import pytest

from budgets.baseline_select import load_identity
from castiel.cli import main
from collectors.model import Batch, HistogramBuilder, SeriesKey
from collectors.store import Store

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "budgets.yaml"
ROUTES = ("/items", "/items/{id}", "/checkout")
DURATION = 150  # seconds: ramp-up 30 s + the 1-minute sustained window of the example


def write_run(
    store: Store,
    *,
    started: float,
    branch: str = "main",
    slow: float = 1.0,
    slow_route: str | None = None,
    error_every: int = 0,
    seed: int = 1,
    users: int = 50,
) -> str:
    """One run of the example service, one batch per second, as a collector would write it.
    `slow` multiplies latencies (of `slow_route` only, when given); `error_every` makes
    every n-th request a 500."""
    rng = random.Random(seed)
    run = store.create_run(
        started_at=started,
        scenario="peak",
        git_branch=branch,
        git_commit="c0ffee",
        # What `castiel run` records, so like-for-like baseline selection can compare.
        environment={"python": "3.11", **identity(users)},
    )
    n = 0
    for i in range(1, DURATION + 1):
        t = started + i
        b = Batch()
        for route in ROUTES:
            lat = HistogramBuilder()
            per_req = HistogramBuilder()
            statuses = {"200": 0, "500": 0}
            factor = slow if slow_route in (None, route) else 1.0
            for _ in range(20):
                n += 1
                lat.record(rng.uniform(0.02, 0.12) * factor)
                per_req.record(rng.choice((1, 2, 3)))
                status = "500" if error_every and n % error_every == 0 else "200"
                statuses[status] += 1
            for status, count in statuses.items():
                if count:
                    key = {"route": route, "method": "GET", "status": status}
                    b.add_histogram(
                        SeriesKey.of("castiel_http_request_duration_seconds", key),
                        t - 1,
                        t,
                        lat.build() if status == "200" else _one(0.05),
                    )
                    b.add_increment(SeriesKey.of("castiel_http_requests_total", key), t, count)
            b.add_histogram(
                SeriesKey.of("castiel_db_queries_per_request", {"route": route}),
                t - 1,
                t,
                per_req.build(),
            )
        for queue in ("email", "reports"):
            q = {"queue": queue}
            b.add_gauge(
                SeriesKey.of("castiel_queue_jobs", {**q, "state": "wait"}), t, rng.randint(0, 30)
            )
            b.add_histogram(
                SeriesKey.of("castiel_job_wait_seconds", q), t - 1, t, _many(rng, 0.01, 0.3, 10)
            )
            b.add_histogram(
                SeriesKey.of("castiel_job_processing_seconds", q),
                t - 1,
                t,
                _many(rng, 0.005, 0.2, 10),
            )
            b.add_increment(
                SeriesKey.of("castiel_jobs_total", {**q, "outcome": "completed"}), t, 10
            )
            b.add_increment(SeriesKey.of("castiel_jobs_total", {**q, "outcome": "failed"}), t, 0)
        b.add_gauge(SeriesKey.of("castiel_workers", {"state": "healthy"}), t, 2)
        b.add_gauge(SeriesKey.of("castiel_workers", {"state": "unhealthy"}), t, 0)
        for layer in ("memory", "redis"):
            b.add_increment(
                SeriesKey.of("castiel_cache_hits_total", {"cache": "items", "layer": layer}), t, 45
            )
        b.add_increment(SeriesKey.of("castiel_cache_misses_total", {"cache": "items"}), t, 5)
        for query in ("select_item", "insert_order"):
            b.add_histogram(
                SeriesKey.of("castiel_db_query_duration_seconds", {"query": query}),
                t - 1,
                t,
                _many(rng, 0.001, 0.02, 20),
            )
        store.write(run.id, b)
    store.finish_run(run.id, started + DURATION)
    return run.id


def identity(users: int) -> dict[str, str]:
    return load_identity(
        users=users,
        peak_multiplier=3.0,
        duration=DURATION,
        locustfile=b"locustfile",
        target="http://127.0.0.1:8000",
        budgets_text=EXAMPLE.read_text(encoding="utf-8"),
    )


def _one(v: float):  # type: ignore[no-untyped-def]
    h = HistogramBuilder()
    h.record(v)
    return h.build()


def _many(rng: random.Random, lo: float, hi: float, n: int):  # type: ignore[no-untyped-def]
    h = HistogramBuilder()
    for _ in range(n):
        h.record(rng.uniform(lo, hi))
    return h.build()


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / ".castiel" / "castiel.db"


def check(*args: str) -> int:
    return main(["check", "--budgets", str(EXAMPLE), *args])


def test_healthy_run_passes_and_writes_every_report(
    store_path: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with Store.open(store_path) as s:
        run_id = write_run(s, started=1_000_000.0)
    summary = tmp_path / "summary.md"
    summary.write_text("previous step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    out = tmp_path / "out"
    code = check(
        "--store",
        str(store_path),
        "--junit",
        str(out / "j.xml"),
        "--json",
        str(out / "r.json"),
        "--html",
        str(out / "r.html"),
        "--markdown",
        str(out / "r.md"),
    )
    printed = capsys.readouterr().out
    report = json.loads((out / "r.json").read_text())
    bad = [v for v in report["verdicts"] if v["status"] != "pass"]
    # the only non-pass is the first run's baseline: no passing run exists yet
    assert code == 0, bad
    assert {v["budget"] for v in bad} <= {"api-latency-p95", "job-processing-p95"}
    assert all(v["baseline"]["outcome"] == "inconclusive" for v in bad)
    assert report["run"]["id"] == run_id and report["status"] == "warn"
    budgets = {v["budget"] for v in report["verdicts"]}
    assert len(budgets) == 15
    groups = {v["budget"]: v["group"] for v in report["verdicts"] if v["group"]}
    assert groups["db-query-p95"]["query"] in ("insert_order", "select_item")
    assert "Result: WARN" in printed and "api-latency-p95" in printed
    suite = ET.parse(out / "j.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0"
    html = (out / "r.html").read_text()
    assert all(f'data-budget="{escape(b)}"' in html for b in budgets)
    md = (out / "r.md").read_text()
    assert summary.read_text() == "previous step\n" + md
    with Store.open(store_path, readonly=True) as s:
        assert s.get_run(run_id).verdict == "warn"
        assert len(s.verdicts(run_id)) == len(report["verdicts"])


def test_a_failing_budget_exits_1_and_names_the_group(
    store_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Store.open(store_path) as s:
        write_run(s, started=1_000_000.0, slow=4.0, slow_route="/checkout", error_every=40)
    code = check(
        "--store", str(store_path), "--junit", str(tmp_path / "j.xml"), "--baseline", "none"
    )
    assert code == 1
    suite = ET.parse(tmp_path / "j.xml").getroot().find("testsuite")
    assert suite is not None
    failed = {
        c.get("name"): c.find("failure").get("message")  # type: ignore[union-attr]
        for c in suite.iter("testcase")
        if c.find("failure") is not None
    }
    # the failure messages name values in the budget's unit
    slow = failed["api-latency-p95 [route=/checkout,method=GET]"]
    assert slow.startswith("p95 ") and slow.endswith(" ms > 250 ms (fail: < 250 ms)"), slow
    assert failed["api-error-rate"] == "ratio 2.5% > 1% (fail: < 1%)"  # 1 in 40
    assert not any("/items" in name for name in failed)
    assert "FAIL" in capsys.readouterr().out


def test_baseline_regression_against_the_last_passing_run(
    store_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Store.open(store_path) as s:
        first = write_run(s, started=1_000_000.0, seed=1)
        write_run(s, started=1_000_500.0, branch="other", slow=3.0, seed=2)
    assert check("--store", str(store_path), "--run", first) == 0
    with Store.open(store_path) as s:
        second = write_run(s, started=1_001_000.0, slow=1.6, seed=3)  # 60% slower, still < 250ms
    code = check("--store", str(store_path), "--json", str(tmp_path / "r.json"))
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["run"]["id"] == second
    p95 = [v for v in report["verdicts"] if v["budget"] == "api-latency-p95"]
    assert {v["baseline"]["outcome"] for v in p95} == {"fail"}
    assert {v["baseline"]["baseline_run"] for v in p95} == {first}
    assert all(v["breached"] is None for v in p95)  # absolute thresholds held
    assert code == 1
    (label,) = report["baselines"]
    assert label.startswith(f"last passing run {first} on branch main with the same scenario=peak")
    assert "users=50" in label
    capsys.readouterr()


def test_named_baselines(store_path: Path, tmp_path: Path) -> None:
    with Store.open(store_path) as s:
        first = write_run(s, started=1_000_000.0, seed=1)
    assert check("--store", str(store_path), "--save-baseline", "release-1") == 0
    with Store.open(store_path) as s:
        assert s.get_baseline("release-1") is not None
        write_run(s, started=1_001_000.0, seed=5)
    code = check(
        "--store", str(store_path), "--baseline", "release-1", "--json", str(tmp_path / "r.json")
    )
    report = json.loads((tmp_path / "r.json").read_text())
    assert code == 0
    assert report["baselines"] == [f"baseline 'release-1' (run {first})"]
    outcomes = {v["baseline"]["outcome"] for v in report["verdicts"] if v["baseline"]}
    assert outcomes == {"pass"}


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--run", "no-such-run"], "no run with id 'no-such-run'"),
        (["--baseline", "nope"], "neither a saved baseline, a run id nor a bundle file"),
        (["--json", "/proc/definitely/not/here.json"], "cannot write"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    store_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], needle: str
) -> None:
    with Store.open(store_path) as s:
        write_run(s, started=1_000_000.0)
    capsys.readouterr()
    assert check("--store", str(store_path), *args) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_empty_store_and_missing_store_exit_2(
    store_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert check("--store", str(tmp_path / "nope.db")) == 2
    Store.open(store_path).close()
    assert check("--store", str(store_path)) == 2
    assert "has no runs yet" in capsys.readouterr().err


def test_bad_budget_file_exits_2_naming_the_line(
    store_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "b.yaml"
    bad.write_text("budgets:\n  - name: x\n    metric: m\n    aggregation: p95\n    fail: 3\n")
    assert main(["check", "--budgets", str(bad), "--store", str(store_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"castiel: {bad}:5:11: budgets[0](x).fail:")


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("GITHUB_STEP_SUMMARY", None)
    return subprocess.run(
        [sys.executable, "-m", "castiel", *args],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=ROOT,
    )


def test_real_process_exit_codes(store_path: Path, tmp_path: Path) -> None:
    with Store.open(store_path) as s:
        write_run(s, started=1_000_000.0, slow=4.0)
    failed = _run_cli("check", "--budgets", str(EXAMPLE), "--store", str(store_path))
    assert failed.returncode == 1, failed.stderr
    assert "FAIL" in failed.stdout and "\x1b[" not in failed.stdout  # plain when piped
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not sqlite" * 1000)
    foreign = _run_cli("check", "--budgets", str(EXAMPLE), "--store", str(junk))
    assert foreign.returncode == 2  # not a store at all: the argument is wrong
    assert "argument --store" in foreign.stderr and "not a Castiel store" in foreign.stderr
    assert foreign.stderr.count("\n") == 1 and "Traceback" not in foreign.stderr
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)  # a store, broken
    broken = _run_cli("check", "--budgets", str(EXAMPLE), "--store", str(corrupt))
    assert broken.returncode == 3, broken.stderr
    assert broken.stderr.startswith("castiel: ") and "Traceback" not in broken.stderr
    gone = _run_cli("check", "--budgets", str(EXAMPLE), "--store", str(tmp_path / "none.db"))
    assert gone.returncode == 2 and "no metrics store at" in gone.stderr
    usage = _run_cli("check", "--store", str(store_path))
    assert usage.returncode == 2 and "--budgets" in usage.stderr
    schema = _run_cli("budgets", "schema")
    assert (
        schema.returncode == 0
        and json.loads(schema.stdout)["title"] == "Castiel performance budgets"
    )
