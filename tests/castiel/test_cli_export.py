"""`castiel budgets export` as a user runs it: files written, notes on stderr, the alerts
config's labels, pending times and dashboard links on the exported alerts, and bad input as
one located line with exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from tests.helpers import ROOT, need

EXAMPLES = ROOT / "examples"


def castiel(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "castiel", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=None,
    )


def alerts_of(path: Path) -> dict[tuple[str, str], dict[str, object]]:
    doc = yaml.safe_load(path.read_text())
    return {
        (r["alert"], r["labels"]["level"]): r
        for g in doc["groups"]
        for r in g["rules"]
        if "alert" in r
    }


def test_prometheus_rules_carry_the_alerts_config(tmp_path: Path) -> None:
    out = tmp_path / "rules.yaml"
    result = castiel(
        "budgets",
        "export",
        "prometheus",
        "--budgets",
        str(EXAMPLES / "budgets.yaml"),
        "--alerts",
        str(EXAMPLES / "alerts.yaml"),
        "-o",
        str(out),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "castiel: not expressed: baseline comparison (api-latency-p95, job-processing-p95)" in (
        result.stderr
    )
    check = subprocess.run(
        [need("promtool"), "check", "rules", str(out)], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    alerts = alerts_of(out)
    p95 = alerts[("api_latency_p95", "fail")]
    # defaults.for (30s) and the alerts config's labels and dashboard link
    assert p95["for"] == "30s" and p95["keep_firing_for"] == "2m"
    assert p95["labels"]["service"] == "example-shop"
    assert p95["annotations"]["dashboard"] == (
        "http://127.0.0.1:8501/review?run=&budget=api-latency-p95"
    )
    # the budget's own `for: 1m` plus the override `for: 0s`
    assert alerts[("api_latency_sustained", "fail")]["for"] == "1m"
    assert alerts[("queue_depth", "warn")]["labels"]["severity"] == "warning"
    # standalone rules of the alerts config are exported too, labelled `rule`
    backlog = alerts[("email_backlog", "fail")]
    assert backlog["labels"]["rule"] == "email-backlog" and backlog["for"] == "1m"
    assert backlog["labels"]["team"] == "platform"


def test_dashboard_flag_without_an_alerts_config(tmp_path: Path) -> None:
    budgets = tmp_path / "b.yaml"
    budgets.write_text(
        "budgets:\n  - {name: e r, metric: castiel_jobs_total, aggregation: rate, "
        'fail: "> 1", on_missing: pass}\n'
    )
    result = castiel(
        "budgets",
        "export",
        "prometheus",
        "--budgets",
        str(budgets),
        "--dashboard-url",
        "https://castiel.example.com/",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    (alert,) = alerts_of_text(result.stdout)
    assert alert["annotations"]["dashboard"] == (
        "https://castiel.example.com/review?run=&budget=e%20r"
    )


def alerts_of_text(text: str) -> list[dict[str, dict[str, str]]]:
    doc = yaml.safe_load(text)
    return [r for g in doc["groups"] for r in g["rules"] if "alert" in r]


def test_oncall_section_of_castiel_yaml(tmp_path: Path) -> None:
    (tmp_path / "castiel.yaml").write_text("oncall:\n  window: 15m\n  burn_rate: false\n")
    result = castiel(
        "budgets", "export", "prometheus", "--budgets", str(EXAMPLES / "budgets.yaml"), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "castiel_budget:api_error_rate:ratio_15m" in result.stdout
    assert "error_budget_burn" not in result.stdout
    (tmp_path / "castiel.yaml").write_text("oncall:\n  window: soon\n")
    bad = castiel(
        "budgets", "export", "prometheus", "--budgets", str(EXAMPLES / "budgets.yaml"), cwd=tmp_path
    )
    assert bad.returncode == 2
    (line,) = bad.stderr.strip().splitlines()
    assert line.startswith("castiel: castiel.yaml:2:11: oncall.window: not a duration")


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    budgets = tmp_path / "b.yaml"
    budgets.write_text("budgets:\n  - name: x\n    metric: m\n    aggregation: p95\n")
    result = castiel("budgets", "export", "azure", "--budgets", str(budgets), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(f"castiel: {budgets}:2:5: budgets[0](x): no thresholds")
    assert "Traceback" not in result.stderr
    window = castiel("budgets", "export", "prometheus", "--budgets", str(budgets), "--window", "0s")
    assert window.returncode == 2 and "must be longer than 0" in window.stderr
    none = castiel("budgets", "export", "alertmanager", cwd=tmp_path)
    assert none.returncode == 2
    assert none.stderr.strip() == (
        "castiel: no alerts config: pass --alerts FILE or add an `alerts:` section to castiel.yaml"
    )


def test_alertmanager_and_azure_outputs(tmp_path: Path) -> None:
    am = castiel(
        "budgets",
        "export",
        "alertmanager",
        "--alerts",
        str(EXAMPLES / "alerts.yaml"),
        "--alertmanager-version",
        "0.25",
        "--secrets-dir",
        "/run/am",
    )
    assert am.returncode == 0, am.stderr
    config = yaml.safe_load(am.stdout)
    assert config["route"]["receiver"] == "team-slack"
    assert "not expressed: receiver platform-teams: Microsoft Teams" in am.stderr
    workbook = tmp_path / "wb.json"
    az = castiel(
        "budgets",
        "export",
        "azure",
        "--budgets",
        str(EXAMPLES / "budgets.yaml"),
        "--role",
        "shop",
        "--workbook",
        str(workbook),
    )
    assert az.returncode == 0, az.stderr
    template = json.loads(az.stdout)
    kinds = {r["type"] for r in template["resources"]}
    assert kinds == {"Microsoft.Insights/scheduledQueryRules", "Microsoft.Insights/workbooks"}
    assert json.loads(workbook.read_text())["version"] == "Notebook/1.0"
    assert "not expressed: not exported (queue-depth)" in az.stderr
