"""`castiel runs ...` and baselines from bundles and like-for-like selection, through the CLI,
on stores filled with runs written through the store API (tests/castiel/test_cli_check.py's
`write_run`). The same with real `castiel run`s: test_bundles_e2e.py."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from castiel.cli import main
from collectors.store import Store
from tests.castiel.test_cli_check import EXAMPLE, write_run


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def check_report(capsys: pytest.CaptureFixture[str], path: Path, *argv: str) -> dict[str, Any]:
    code, out, err = cli(capsys, "check", "--budgets", str(EXAMPLE), "--json", str(path), *argv)
    assert code in (0, 1), out + err
    report: dict[str, Any] = json.loads(path.read_text())
    report["exit"] = code
    return report


def verdict_facts(report: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (v["budget"], json.dumps(v["group"], sort_keys=True), v["status"], v["observed"])
        for v in report["verdicts"]
    ]


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return tmp_path / "source.db"


def test_list_filters_and_show(
    source: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with Store.open(source) as s:
        a = write_run(s, started=1_000_000.0)
        b = write_run(s, started=1_001_000.0, branch="feature", users=5)
        c = write_run(s, started=1_002_000.0)
        s.set_run_verdict(a, "pass")
        s.set_run_verdict(b, "fail")
        s.set_baseline("release-1", a, now=1.0)
    code, out, _ = cli(capsys, "runs", "list", "--store", str(source), "--plain")
    assert code == 0
    header, *rows = [line.split("\t") for line in out.splitlines()]
    assert header[0] == "run" and header[-1] == "baselines"
    assert [r[0] for r in rows] == [c, b, a]
    assert rows[1][3:8] == ["feature", "peak", "5", "finished", "fail"]
    assert rows[2][-1] == "release-1"

    def ids(*flags: str) -> list[str]:
        code, out, _ = cli(capsys, "runs", "list", "--store", str(source), "--plain", *flags)
        assert code == 0
        return [line.split("\t")[0] for line in out.splitlines()[1:]]

    assert ids("--branch", "main") == [c, a]
    assert ids("--verdict", "pass") == [a]
    assert ids("--branch", "main", "--limit", "1") == [c]
    assert ids("--scenario", "soak") == []

    code, out, _ = cli(capsys, "runs", "show", a, "--store", str(source))
    assert code == 0
    assert f"run        {a}" in out and "verdict    pass" in out
    assert "baselines  release-1" in out and "  load.users = 50" in out
    assert "series     " in out and "histogram" in out

    code, _, err = cli(capsys, "runs", "show", "nope", "--store", str(source))
    assert code == 2 and err.strip() == f"castiel: {source}: no run with id 'nope'"
    code, _, err = cli(capsys, "runs", "list", "--store", str(tmp_path / "none.db"))
    assert code == 2 and "no metrics store at" in err


def test_export_import_then_check_gives_identical_verdicts(
    source: Path, store_locator: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Store.open(source) as s:
        run_id = write_run(s, started=1_000_000.0, error_every=300)
    before = check_report(capsys, tmp_path / "a.json", "--store", str(source))
    bundle = tmp_path / "run.castiel.jsonl.gz"
    code, out, _ = cli(capsys, "runs", "export", run_id, "-o", str(bundle), "--store", str(source))
    assert code == 0 and out.startswith(f"exported run {run_id} (") and str(bundle) in out
    code, out, _ = cli(capsys, "runs", "import", str(bundle), "--store", store_locator)
    assert (code, out.strip()) == (0, f"{bundle}: run {run_id} imported")
    code, out, _ = cli(capsys, "runs", "import", str(bundle), "--store", store_locator)
    assert (code, out.strip()) == (0, f"{bundle}: run {run_id} already in the store")
    after = check_report(
        capsys, tmp_path / "b.json", "--store", store_locator, "--run", run_id, "--no-record"
    )
    assert verdict_facts(after) == verdict_facts(before)
    assert after["exit"] == before["exit"]
    assert {v["status"] for v in after["verdicts"]} >= {"pass"}
    with Store.open(store_locator, readonly=True) as s:
        assert [r.id for r in s.runs()] == [run_id]
        assert s.get_run(run_id).verdict == before["status"]


def test_check_compares_with_a_bundle_without_importing_it(
    source: Path, store_locator: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Store.open(source) as s:
        main_run = write_run(s, started=1_000_000.0, seed=1)
    assert check_report(capsys, tmp_path / "m.json", "--store", str(source))["exit"] == 0
    bundle = tmp_path / "main.castiel.jsonl.gz"
    assert (
        cli(capsys, "runs", "export", "latest", "-o", str(bundle), "--store", str(source))[0] == 0
    )
    # A fresh CI runner: an empty store, this branch's run, and the downloaded bundle.
    with Store.open(store_locator) as s:
        current = write_run(s, started=1_001_000.0, branch="feature", slow=1.6, seed=3)
    report = check_report(
        capsys, tmp_path / "r.json", "--store", store_locator, "--baseline", str(bundle)
    )
    assert report["exit"] == 1
    (label,) = report["baselines"]
    assert label.startswith(f"run {main_run} from bundle {bundle} (branch main, verdict warn,")
    assert "warning" not in label
    p95 = [v for v in report["verdicts"] if v["budget"] == "api-latency-p95"]
    assert {v["baseline"]["baseline_run"] for v in p95} == {main_run}
    assert {v["baseline"]["outcome"] for v in p95} == {"fail"}
    with Store.open(store_locator, readonly=True) as s:
        assert [r.id for r in s.runs()] == [current]  # compared, not imported


def test_last_passing_is_like_for_like_and_falls_back_to_main(
    store_locator: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Store.open(store_locator) as s:
        on_main = write_run(s, started=1_000_000.0, seed=1)
        few_users = write_run(s, started=1_001_000.0, branch="feature", users=5, seed=2)
        s.set_run_verdict(on_main, "pass")
        s.set_run_verdict(few_users, "pass")
        current = write_run(s, started=1_002_000.0, branch="feature", seed=3)
    args = ("--store", store_locator, "--run", current, "--no-record")
    report = check_report(capsys, tmp_path / "r.json", *args)
    (label,) = report["baselines"]
    assert label.startswith(
        f"last passing run {on_main} on branch main with the same scenario=peak"
    )
    assert (
        "(fallback to the default branch; 1 passing run on branch feature, none with users=50)"
        in label
    )
    runs_compared = {v["baseline"]["baseline_run"] for v in report["verdicts"] if v["baseline"]}
    assert runs_compared == {on_main}

    report = check_report(capsys, tmp_path / "r.json", *args, "--baseline-branch", "none")
    assert report["baselines"] == [
        "no qualifying baseline: 1 passing run on branch feature, none with users=50"
    ]
    config = tmp_path / "castiel.yaml"
    config.write_text("baseline:\n  match: [scenario, duration]\n  default_branch: trunk\n")
    report = check_report(capsys, tmp_path / "r.json", *args, "--config", str(config))
    assert report["baselines"][0].startswith(f"last passing run {few_users} on branch feature")
    report = check_report(
        capsys, tmp_path / "r.json", *args, "--config", str(config), "--baseline-match", "users"
    )
    assert "no qualifying baseline" in report["baselines"][0]  # the flag wins; trunk is empty
    assert "no passing run on branch trunk before this one" in report["baselines"][0]


def test_damaged_bundles_exit_2_with_one_line(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Store.open(source) as s:
        write_run(s, started=1_000_000.0)
    bundle = tmp_path / "run.castiel.jsonl.gz"
    assert (
        cli(capsys, "runs", "export", "latest", "-o", str(bundle), "--store", str(source))[0] == 0
    )
    lines = gzip.decompress(bundle.read_bytes()).decode().splitlines()
    header = json.loads(lines[0])
    newer = tmp_path / "newer.castiel.jsonl.gz"
    newer.write_bytes(
        gzip.compress("\n".join([json.dumps({**header, "version": 99}), *lines[1:]]).encode())
    )
    truncated = tmp_path / "cut.castiel.jsonl.gz"
    truncated.write_bytes(bundle.read_bytes()[:-200])
    corrupt = tmp_path / "corrupt.castiel.jsonl.gz"
    corrupt.write_bytes(gzip.compress(b"\n".join([lines[0].encode(), b"{oops", b""])))
    damaged = [
        (newer, ":1: bundle format version 99"),
        (truncated, ": the file is cut short"),
        (corrupt, ":2: not a JSON record"),
    ]
    for bad, where in damaged:
        for argv in (
            ("runs", "import", str(bad), "--store", str(tmp_path / "t.db")),
            ("check", "--budgets", str(EXAMPLE), "--store", str(source), "--baseline", str(bad)),
            # refused before any load is sent: nothing listens on the target, no run is made
            ("run", "--target", "http://127.0.0.1:9", "--budgets", str(EXAMPLE),
             "--store", str(tmp_path / "t.db"), "--baseline", str(bad)),
        ):  # fmt: skip
            code, _, err = cli(capsys, *argv)
            assert code == 2, argv
            assert err.startswith(f"castiel: {bad}{where}"), err
            assert err.count("\n") == 1
    assert not (tmp_path / "t.db").exists()  # every bundle is checked before the store opens
    code, _, err = cli(capsys, "check", "--budgets", str(EXAMPLE), "--baseline", "gone/x.gz")
    assert code == 2 and err.startswith("castiel: gone/x.gz: No such file")


def test_delete_asks_or_needs_yes(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Store.open(source) as s:
        keep = write_run(s, started=1_000_000.0)
        doomed = write_run(s, started=1_001_000.0, branch="feature")
        s.set_baseline("golden", doomed, now=1.0)
        s.create_run(started_at=1_002_000.0)  # running: cannot be exported
    code, _, err = cli(capsys, "runs", "delete", doomed, "--store", str(source))
    assert code == 2 and "without --yes" in err and "saved as baseline 'golden'" in err
    code, out, _ = cli(capsys, "runs", "delete", doomed, "--yes", "--store", str(source))
    assert code == 0 and out.startswith(f"deleted run {doomed}")
    with Store.open(source, readonly=True) as s:
        assert doomed not in {r.id for r in s.runs()} and keep in {r.id for r in s.runs()}
        assert s.baselines() == {}
        assert s.load_series(keep)  # the other run's data is intact
    code, _, err = cli(capsys, "runs", "export", "latest", "--store", str(source))
    assert code == 2 and "is still running" in err
    code, _, err = cli(capsys, "runs", "delete", doomed, "--yes", "--store", str(source))
    assert code == 2 and f"no run with id {doomed!r}" in err
