"""`castiel check` against a shared PostgreSQL store, as against SQLite (the same runs as
tests/castiel/test_cli_check.py): verdicts, every report, the last passing run as baseline,
and the URL's password in none of what it prints or writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from castiel.cli import main
from castiel.postgres_server import PostgresServer
from collectors.store import Store
from tests.castiel.test_cli_check import EXAMPLE, write_run


def check(*args: str) -> int:
    return main(["check", "--budgets", str(EXAMPLE), *args])


def test_check_on_postgres_gates_reports_and_finds_the_last_passing_run(
    postgres_url: str,
    postgres_server: PostgresServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    secret = postgres_server.password
    assert check("--store", postgres_url) == 2
    assert "postgresql://castiel:***@127.0.0.1:" in capsys.readouterr().err  # no runs yet
    with Store.open(postgres_url) as s:
        first = write_run(s, started=1_000_000.0, seed=1)
        write_run(s, started=1_000_500.0, branch="other", slow=3.0, seed=2)
    assert check("--store", postgres_url, "--run", first) == 0
    with Store.open(postgres_url) as s:
        second = write_run(s, started=1_001_000.0, slow=1.6, seed=3)  # 60% slower
    out = tmp_path / "out"
    reports = {
        "--json": out / "r.json",
        "--junit": out / "j.xml",
        "--html": out / "r.html",
        "--markdown": out / "r.md",
    }
    code = check("--store", postgres_url, *(str(a) for kv in reports.items() for a in kv))
    report = json.loads(reports["--json"].read_text())
    assert code == 1 and report["run"]["id"] == second
    p95 = [v for v in report["verdicts"] if v["budget"] == "api-latency-p95"]
    assert {v["baseline"]["outcome"] for v in p95} == {"fail"}
    assert {v["baseline"]["baseline_run"] for v in p95} == {first}
    printed = capsys.readouterr()
    for text in (printed.out, printed.err, *(p.read_text() for p in reports.values())):
        assert secret not in text
    with Store.open(postgres_url, readonly=True) as s:
        assert s.get_run(second).verdict == "fail"
        assert len(s.verdicts(second)) == len(report["verdicts"])
