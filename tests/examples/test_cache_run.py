"""A real `castiel run` against the example service with its cache on: the service's /metrics
carries the cache's hits and misses, the monitor collects them, and examples/budgets.yaml's
cache-hit-ratio budget is judged on them (and fails for want of data with --no-cache)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.examples.test_service import start_service
from tests.helpers import ROOT


def hit_ratio_budget(tmp_path: Path) -> Path:
    """examples/budgets.yaml's cache-hit-ratio budget, alone, with fewer samples for a
    short run."""
    text = (ROOT / "examples" / "budgets.yaml").read_text()
    start = text.index("  - name: cache-hit-ratio")
    end = text.index("  # --- database")
    budget = text[start:end].replace("min_samples: 100", "min_samples: 20")
    path = tmp_path / "budgets.yaml"
    path.write_text(f"version: 1\ndefaults:\n  ramp_up: spawn\nbudgets:\n{budget}")
    return path


def run(tmp_path: Path, base: str, name: str) -> tuple[int, dict[str, Any], str]:
    runs = tmp_path / f"runs-{name}"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "castiel",
            "run",
            "--target",
            base,
            "--budgets",
            str(hit_ratio_budget(tmp_path)),
            "--duration",
            "8s",
            "--users",
            "5",
            "--metrics",
            base + "/metrics",
            "--store",
            str(tmp_path / f"{name}.db"),
            "--runs-dir",
            str(runs),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    (run_dir,) = list(runs.iterdir())
    report = json.loads((run_dir / "report.json").read_text())
    return result.returncode, report, result.stdout + result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("cache", ["on", "off"])
def test_cache_hit_ratio_budget_is_judged_on_the_services_cache_metrics(
    redis_url: str, tmp_path: Path, cache: str
) -> None:
    flags = () if cache == "on" else ("--no-cache",)
    proc, base = start_service(redis_url, tmp_path / "db.sqlite", *flags)
    try:
        code, report, output = run(tmp_path, base, cache)
    finally:
        proc.terminate()
        proc.wait(10)
    verdicts = {v["group"].get("cache", ""): v for v in report["verdicts"]}
    if cache == "on":
        assert code == 0, output
        assert set(verdicts) == {"http-catalogue", "permissions"}, verdicts
        for v in verdicts.values():
            assert v["status"] in ("pass", "warn") and v["observed"] >= 0.8, v
    else:
        assert code == 1, output
        (only,) = verdicts.values()
        assert only["status"] == "fail" and only["missing"], only
