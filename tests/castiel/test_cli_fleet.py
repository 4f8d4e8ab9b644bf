"""`castiel monitor` over the sources of castiel.yaml: a real Prometheus (Debian package
`prometheus`) scraping the example service and two workers every second, budgets by selector
and budgets naming a PromQL expression; and the located errors (exit 2) and broken sources
(exit 3) around them."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from castiel.cli import main
from castiel.commands.sources import merged_sources
from castiel.config import parse_project_config
from castiel.redis_server import free_port
from collectors.sources import AZURE, PROMETHEUS, REDIS, SCRAPE
from collectors.store import Store
from tests.collectors import test_promql
from tests.collectors.test_promql import Stack, _traffic
from tests.helpers import ROOT

stack = test_promql.stack  # the module-scoped fixture: a Prometheus of this module's own

BUDGETS = """\
version: 1
budgets:
  - name: shard-requests
    metric: castiel_http_requests_total{route="/shards/{shard_type}"}
    aggregation: count
    fail: "> 0"
  - name: shard-latency
    metric: castiel_http_request_duration_seconds{route="/shards/{shard_type}"}
    aggregation: p95
    fail: "< 5s"
  - name: request rate
    promql: sum(rate(castiel_http_requests_total{job="shop",route!="/metrics"}[5s]))
    aggregation: max
    fail: "> 1"
  - name: shard_increase
    promql:
      expr: >-
        sum(increase(castiel_http_requests_total{job="shop",
        route="/shards/{shard_type}"}[$__interval]))
      kind: counter
    aggregation: count
    fail: "> 0"
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.slow
def test_monitor_evaluates_budgets_and_promql_budgets_over_prometheus(
    stack: Stack, tmp_path: Path
) -> None:
    config = _write(
        tmp_path,
        "castiel.yaml",
        f"sources:\n  prometheus:\n    url: {stack.prometheus}\n    match: 'job=\"shop\"'\n"
        "    window: 3s\n",
    )
    budgets = _write(tmp_path, "b.yaml", BUDGETS)
    store = tmp_path / "s.db"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "castiel",
            "monitor",
            "--config",
            str(config),
            "--budgets",
            str(budgets),
            "--store",
            str(store),
            "--interval",
            "1",
            "--for",
            "10",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    # Traffic once the monitor runs (its first tick is the baseline), however slow it starts.
    assert proc.stdout is not None
    head = ""
    while "monitoring as run" not in head:
        line = proc.stdout.readline()
        assert line, head  # it exited before it began to monitor
        head += line
    load = threading.Thread(target=_traffic, args=(stack.service, 6.0))
    load.start()
    load.join()
    rest, _ = proc.communicate(timeout=90)
    out = head + rest
    assert proc.returncode == 0, out
    assert "sources: promql" in out
    with Store.open(store, readonly=True) as s:
        run = s.latest_run()
        assert run is not None and run.status == "finished"
        names = {k.name for k, _ in s.series(run.id)}
        assert {
            "castiel_http_requests_total",
            "castiel_http_request_duration_seconds",
            "castiel_promql:shard_increase",
        } <= names
        assert any(n.startswith("castiel_promql:request_rate_") for n in names)
        live = {v.budget: v for v in s.verdicts(run.id, "live")}
    assert set(live) == {"shard-requests", "shard-latency", "request rate", "shard_increase"}
    for name, v in live.items():
        assert v.status == "pass", (name, v.payload)
        assert v.payload["observed"] is not None, name


def test_an_expression_prometheus_rejects_is_located_in_the_budget_file(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _write(
        tmp_path,
        "castiel.yaml",
        f"sources:\n  prometheus: {{url: {stack.prometheus}, defaults: false}}\n",
    )
    budgets = _write(
        tmp_path,
        "b.yaml",
        "budgets:\n  - name: ok\n    promql: up\n    aggregation: max\n    fail: '>= 1'\n"
        "  - name: typo\n    promql: rate(up)\n    aggregation: max\n    fail: '< 1'\n",
    )
    code = main(["monitor", "--config", str(config), "--budgets", str(budgets), "--for", "1"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"{budgets}:6:5: typo.promql: Prometheus at {stack.prometheus} rejected" in err
    assert "range vector" in err


def test_sources_and_budgets_that_cannot_work_together_exit_2_or_3(
    redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    promql_budget = _write(
        tmp_path,
        "p.yaml",
        "budgets:\n  - name: up\n    promql: up\n    aggregation: max\n    fail: '>= 1'\n",
    )
    # A promql: budget needs a Prometheus source.
    code = main(["monitor", "--budgets", str(promql_budget), "--redis", redis_url])
    err = capsys.readouterr().err
    assert code == 2 and f"{promql_budget}:2:5: up.promql: this budget names a PromQL" in err

    # Redis (heartbeats) and Prometheus' defaults would both deliver castiel_* series.
    closed = free_port()
    both = _write(
        tmp_path,
        "castiel.yaml",
        f'sources:\n  redis: {{url: "{redis_url}"}}\n'
        f"  prometheus:\n    url: http://127.0.0.1:{closed}\n",
    )
    code = main(["monitor", "--config", str(both), "--budgets", str(promql_budget)])
    err = capsys.readouterr().err
    assert code == 2 and f"{both}:4:5: sources.prometheus: sources.prometheus and" in err
    assert "count every request twice" in err
    # `castiel run` wires the same sources, and refuses before any load is sent.
    target = f"http://127.0.0.1:{free_port()}"
    code = main(["run", "--target", target, "--budgets", str(promql_budget), "--config", str(both)])
    assert code == 2 and "count every request twice" in capsys.readouterr().err

    # defaults: false is fine, but a Prometheus that does not answer breaks the start (exit 3).
    only_queries = _write(
        tmp_path,
        "castiel.yaml",
        f'sources:\n  redis: {{url: "{redis_url}"}}\n'
        f"  prometheus: {{url: 'http://127.0.0.1:{closed}', defaults: false, timeout: 1s}}\n",
    )
    code = main(["monitor", "--config", str(only_queries), "--budgets", str(promql_budget)])
    err = capsys.readouterr().err
    assert code == 3 and "does not answer" in err

    # A misspelt section is not silently "no sources".
    typo = _write(tmp_path, "castiel.yaml", f'source:\n  redis: {{url: "{redis_url}"}}\n')
    code = main(["monitor", "--config", str(typo), "--budgets", str(promql_budget)])
    assert code == 2 and "unknown section 'source'" in capsys.readouterr().err


def test_command_line_flags_merge_into_the_configured_sources() -> None:
    config = parse_project_config(
        "sources:\n  redis: {url: 'redis://127.0.0.1:7001/0', queues: [orders]}\n"
        "  prometheus: {url: 'http://127.0.0.1:9090', defaults: false}\n",
        "castiel.yaml",
        {},
    ).sources
    assert merged_sources(config, None, []) == config  # no flags: the file as written
    flagged = merged_sources(config, "redis://127.0.0.1:7002/0", ["http://a:1/metrics"])
    redis, scrape = flagged.get(REDIS), flagged.get(SCRAPE)
    assert redis is not None and redis.url == "redis://127.0.0.1:7002/0"
    assert redis.queues == ("orders",)
    assert scrape is not None and scrape.endpoints == ("http://a:1/metrics",)
    assert scrape.discover and flagged.get(PROMETHEUS) == config.get(PROMETHEUS)
    # Without a config, `--redis` alone is what it always was: Redis plus the workers' endpoints.
    bare = merged_sources(parse_project_config("", "castiel.yaml", {}).sources, "redis://h", [])
    bare_scrape = bare.get(SCRAPE)
    assert bare.get(REDIS) is not None and bare_scrape is not None and bare_scrape.discover
    assert bare.get(PROMETHEUS) is None and bare.get(AZURE) is None
