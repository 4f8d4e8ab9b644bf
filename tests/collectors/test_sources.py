"""The `sources:` section of castiel.yaml: typed config, located errors, `${VAR}` secrets,
collectors built from it, and checks against real sources (redis-server, a real /metrics
endpoint, a closed port)."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, start_http_server
from yaml.nodes import Node

from castiel.redis_server import free_port
from collectors.azure_monitor import AzureMetricsCollector, AzureMonitorCollector
from collectors.prometheus_scrape import PrometheusScrapeCollector
from collectors.promql import CountMethod, NamedQuery, PromQLCollector, QueryKind
from collectors.runtime import RuntimeCollector
from collectors.sources import (
    AZURE,
    PROMETHEUS,
    REDIS,
    SCRAPE,
    SOURCES,
    SourcesConfigError,
    build_collectors,
    check_sources,
    load_sources,
    metric_overlap,
    parse_sources,
    registry,
)
from collectors.sources.base import (
    SourceCheck,
    SourceContext,
    SourceKind,
    incomplete,
    scrub,
    secret_values,
)
from runtime.connection import connect
from runtime.errors import ConfigError
from tests.helpers import ROOT

FULL = """\
store: .castiel/metrics.db        # another section: not ours, left alone
sources:
  redis:
    url: ${REDIS_URL}
    queues: [orders, stock]
  scrape:
    endpoints: [http://127.0.0.1:8000/metrics]
    discover: true
    timeout: 1500ms
  prometheus:
    url: http://127.0.0.1:9090
    match: '{job="shop", env=~"prod.*"}'
    method: increase
    quantiles: [0.5, 0.999]
    headers: {Authorization: "Bearer ${PROM_TOKEN}"}
    queries:
      checkout_5xx: 'sum(rate(castiel_http_requests_total{status=~"5.."}[$__interval]))'
      orders: {expr: 'sum(increase(castiel_jobs_total[$__interval]))', kind: counter}
  azure:
    workspace_id: ${WORKSPACE:-ws-default}
    roles: shop-api
    on_partial: no-data
    timeout: 2m
    metrics:
      endpoint: https://westeurope.metrics.monitor.azure.com
      namespace: Microsoft.Cache/redis
      resources: [/subscriptions/s/resourceGroups/rg/providers/Microsoft.Cache/Redis/c1]
      names: [serverLoad]
"""
ENV = {"REDIS_URL": "redis://127.0.0.1:6390/0", "PROM_TOKEN": "s3cret"}


def test_a_full_sources_section() -> None:
    c = parse_sources(FULL, "castiel.yaml", ENV)
    r = c.get(REDIS)
    assert r is not None and r.url == "redis://127.0.0.1:6390/0"
    assert r.queues == ("orders", "stock")
    assert "6390" not in repr(r)  # a Redis URL may carry a password
    s = c.get(SCRAPE)
    assert s is not None and s.discover and s.timeout == 1.5
    p = c.get(PROMETHEUS)
    assert p is not None and p.match == 'job="shop", env=~"prod.*"'
    assert p.method is CountMethod.INCREASE and p.quantiles == (0.5, 0.999)
    assert p.headers == (("Authorization", "Bearer s3cret"),)
    assert "s3cret" not in repr(p)  # headers carry secrets: kept out of reprs and logs
    assert p.queries == (
        NamedQuery(
            "checkout_5xx",
            'sum(rate(castiel_http_requests_total{status=~"5.."}[$__interval]))',
        ),
        NamedQuery("orders", "sum(increase(castiel_jobs_total[$__interval]))", QueryKind.COUNTER),
    )
    a = c.get(AZURE)
    assert a is not None and a.workspace_id == "ws-default" and a.schema == "workspace"
    assert a.roles == ("shop-api",) and a.on_partial == "no-data" and a.timeout == 120
    assert a.metrics is not None and a.metrics.names == ("serverLoad",)
    assert a.metrics.aggregation == "Maximum"


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        (
            "sources:\n  promethus: {url: http://x}\n",
            "2:3: sources.promethus:",
            "did you mean 'prometheus'",
        ),
        (
            "sources:\n  prometheus:\n    url: ftp://x\n",
            "3:10: sources.prometheus.url:",
            "not an http",
        ),
        (
            "sources:\n  prometheus:\n    timeout: 5s\n",
            "3:5: sources.prometheus.url:",
            "missing url",
        ),
        (
            "sources:\n  prometheus:\n    url: http://x\n    match: job=shop\n",
            "4:12: sources.prometheus.match:",
            "label matchers",
        ),
        (
            "sources:\n  prometheus:\n    url: http://x\n    queries:\n      a-b: up\n",
            "5:12: sources.prometheus.queries.a-b:",
            "not a metric name",
        ),
        (
            "sources:\n  prometheus:\n    url: http://x\n"
            "    queries:\n      q: {expr: up, kind: histo}\n",
            "5:27: sources.prometheus.queries.q.kind:",
            "not one of gauge, counter, histogram",
        ),
        ("sources:\n  redis:\n    url: ${NOPE}\n", "3:10: sources.redis.url:", "NOPE is not set"),
        ("sources:\n  redis:\n    url: http://x\n", "3:10: sources.redis.url:", "scheme must be"),
        (
            "sources:\n  scrape:\n    endpoints: [http://a/metrics]\n    timeout: soon\n",
            "4:14: sources.scrape.timeout:",
            "not a duration",
        ),
        ("sources:\n  scrape: {}\n", "2:11: sources.scrape:", "endpoints"),
        (
            "sources:\n  azure:\n    workspace_id: w\n    resource_id: /subscriptions/x\n",
            "3:5: sources.azure:",
            "exactly one of workspace_id",
        ),
        (
            "sources:\n  azure:\n    resource_id: app\n",
            "3:18: sources.azure.resource_id:",
            "/subscriptions/",
        ),
        (
            "sources:\n  azure:\n    workspace_id: w\n    metrics: {endpoint: https://m}\n",
            "4:14: sources.azure.metrics.namespace:",
            "missing namespace",
        ),
        ("sources:\n  redis: {url: [a]\n", "3:1:", "not valid YAML"),
    ],
)
def test_errors_name_file_line_column_and_key(text: str, where: str, message: str) -> None:
    with pytest.raises(SourcesConfigError) as err:
        parse_sources(text, "castiel.yaml", {})
    assert str(err.value).startswith(f"castiel.yaml:{where}"), str(err.value)
    assert message in str(err.value)
    assert isinstance(err.value, ConfigError)  # the CLI turns it into exit 2


def test_every_problem_is_reported_and_secrets_are_not(tmp_path: Path) -> None:
    path = tmp_path / "castiel.yaml"
    path.write_text(
        "sources:\n  prometheus:\n    url: ${URL}\n    metrics: '('\n  redis: {url: nope}\n"
    )
    with pytest.raises(SourcesConfigError) as err:
        load_sources(path, {"URL": "http://user:hunter2@prom:9090"})
    assert len(err.value.issues) == 2
    assert "hunter2" not in str(err.value)
    assert "(and 1 more)" in str(err.value)
    with pytest.raises(SourcesConfigError, match="file not found"):
        load_sources(tmp_path / "missing.yaml")
    assert parse_sources("other: 1\n", "c.yaml", {}).empty


def test_collectors_built_from_the_config() -> None:
    c = parse_sources(FULL, "castiel.yaml", ENV)
    redis_client = connect(ENV["REDIS_URL"]).sync  # not connected until used
    built = build_collectors(c, redis_client=redis_client, azure_credential=object())
    kinds = [type(x) for x in built]
    assert kinds == [
        RuntimeCollector,
        PrometheusScrapeCollector,
        PromQLCollector,
        AzureMonitorCollector,
        AzureMetricsCollector,
    ]
    promql = built[2]
    assert isinstance(promql, PromQLCollector)
    assert promql.matchers == 'job="shop", env=~"prod.*"'
    assert promql.client.headers == {"Authorization": "Bearer s3cret"}
    azure = built[3]
    assert isinstance(azure, AzureMonitorCollector)
    assert azure.workspace_id == "ws-default" and azure.server_timeout == 120


def test_two_views_of_the_same_series_are_found_and_located() -> None:
    full = parse_sources(FULL, "castiel.yaml", ENV)
    issue = metric_overlap(full)
    assert issue is not None and (issue.line, issue.column) == (11, 5)  # sources.prometheus
    assert "count every request twice" in str(issue)
    text = (
        "sources:\n  redis: {url: 'redis://127.0.0.1:1'}\n"
        "  azure: {workspace_id: ws}\n"
        "  prometheus: {url: 'http://p:9090', defaults: false}\n"
    )
    issue = metric_overlap(parse_sources(text, "c.yaml", {}))
    assert issue is not None and str(issue).startswith("c.yaml:3:10: sources.azure:")
    only_queries = text.replace("  azure: {workspace_id: ws}\n", "")
    assert metric_overlap(parse_sources(only_queries, "c.yaml", {})) is None


@pytest.fixture
def metrics_endpoint() -> Iterator[str]:
    registry = CollectorRegistry()
    Counter("demo_requests", "demo", registry=registry).inc(3)
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    yield f"http://127.0.0.1:{server.server_port}/metrics"
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_check_tells_which_sources_answer(redis_url: str, metrics_endpoint: str) -> None:
    closed = free_port()
    text = f"""
sources:
  redis: {{url: "{redis_url}"}}
  scrape: {{endpoints: ["{metrics_endpoint}", "http://127.0.0.1:{closed}/metrics"]}}
  prometheus: {{url: "http://127.0.0.1:{closed}"}}
"""
    results = check_sources(parse_sources(text, "castiel.yaml", {}), timeout=2)
    table = {(r.source, r.target): r for r in results}
    assert [r.source for r in results] == ["redis", "scrape", "scrape", "prometheus"]
    assert table[("redis", redis_url)].ok
    assert "workers alive" in table[("redis", redis_url)].detail
    good = table[("scrape", metrics_endpoint)]
    assert good.ok and "samples" in good.detail
    bad = table[("scrape", f"http://127.0.0.1:{closed}/metrics")]
    assert not bad.ok and "refused" in bad.detail.lower()
    prom = table[("prometheus", f"http://127.0.0.1:{closed}")]
    assert not prom.ok and "does not answer" in prom.detail


@pytest.mark.parametrize("scheme", ["redis", "redis+cluster"])
def test_check_of_a_dead_redis_is_a_failed_row_not_an_exception(scheme: str) -> None:
    nodes = f"127.0.0.1:{free_port()}" + (
        f",127.0.0.1:{free_port()}" if "cluster" in scheme else ""
    )
    text = f'sources:\n  redis: {{url: "{scheme}://:pw@{nodes}"}}\n'
    (result,) = check_sources(parse_sources(text, "castiel.yaml", {}), timeout=1)
    assert not result.ok and "does not answer" in result.detail
    assert result.target == f"{scheme}://{nodes}"  # no password in the table


def test_every_registered_source_is_complete() -> None:
    """A source is one object: name, frozen config model with its secret fields out of
    repr(), schema (parse), collectors (build), check and series view."""
    assert [kind.name for kind in SOURCES] == ["redis", "scrape", "prometheus", "azure"]
    for kind in SOURCES:
        assert incomplete(kind) == [], kind.name
    assert len({kind.name for kind in SOURCES}) == len(SOURCES)


def test_an_incomplete_source_is_told_what_it_lacks() -> None:
    @dataclass  # not frozen
    class Loose:
        token: str

    @dataclass(frozen=True)
    class Leaky:
        token: str  # secret, but shown by repr()

    def parse(ctx: SourceContext, node: Node, key: str) -> Any:
        raise AssertionError

    loose = SourceKind("Bad Name", Loose, parse, lambda s, c: [], lambda s, c: [])
    assert incomplete(loose) == [
        "name 'Bad Name' is not a lower-case key",
        "Loose is not a frozen dataclass",
    ]
    leaky = SourceKind(
        "leaky", Leaky, parse, lambda s, c: [], lambda s, c: [], secret_fields=("token", "nope")
    )
    assert incomplete(leaky) == [
        "secret field 'token' shows in repr() (field(repr=False))",
        "secret field 'nope' is not a field of Leaky",
    ]


def test_checks_never_show_a_secret_of_the_config() -> None:
    """The values of secret fields are scrubbed from whatever a check reports."""
    port = free_port()
    text = (
        f'sources:\n  redis: {{url: "redis://:hunter2@127.0.0.1:{port}/0"}}\n'
        f'  prometheus: {{url: "http://127.0.0.1:{port}", '
        'headers: {Authorization: "Bearer s3cret"}}\n'
    )
    config = parse_sources(text, "castiel.yaml", {})
    prom = config.get(PROMETHEUS)
    assert prom is not None
    assert secret_values(PROMETHEUS, prom) == {"Bearer s3cret"}
    assert secret_values(REDIS, config.get(REDIS)) == {"hunter2"}
    results = check_sources(config, timeout=1)
    assert [r.ok for r in results] == [False, False]
    assert "hunter2" not in " ".join(f"{r.target} {r.detail}" for r in results)
    # Whatever a source echoes (an error body quoting the request, say) is scrubbed too.
    echoed = SourceCheck("prometheus", "p", False, "401: header 'Bearer s3cret' refused")
    assert scrub(echoed, {"Bearer s3cret"}).detail == "401: header '***' refused"


def _recipe(heading: str) -> str:
    """The python block under `heading` in docs/development.md."""
    text = (ROOT / "docs" / "development.md").read_text()
    section = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_new_source_recipe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    """docs/development.md "A new source", run as written: the module, one registry line,
    and the source works everywhere sources do."""
    (tmp_path / "file_source.py").write_text(_recipe("A new source"))
    monkeypatch.syspath_prepend(str(tmp_path))
    file_source = importlib.import_module("file_source")
    kind = file_source.FILE
    assert incomplete(kind) == []
    monkeypatch.setattr(registry, "SOURCES", (*registry.SOURCES, kind))

    gauges = tmp_path / "gauges.json"
    gauges.write_text('{"shop_open_carts": 12, "shop_stock_low": 3}')
    config = parse_sources(
        f'sources:\n  redis: {{url: "{redis_url}"}}\n  file: {{path: "{gauges}"}}\n', "c.yaml", {}
    )
    assert config.get(kind) == file_source.FileSource(str(gauges))
    collectors = build_collectors(config, redis_client=connect(redis_url).sync)
    batch = collectors[-1].collect(100.0)
    assert {(s.key.name, s.point.value) for s in batch.scalars} == {
        ("shop_open_carts", 12.0),
        ("shop_stock_low", 3.0),
    }
    assert [(c.source, c.ok, c.detail) for c in check_sources(config)][-1] == (
        "file",
        True,
        "2 gauges",
    )
    gauges.write_text("not json")
    assert not check_sources(config)[-1].ok
    with pytest.raises(SourcesConfigError, match=r"c.yaml:2:9: sources.file.path: missing path"):
        parse_sources("sources:\n  file: {}\n", "c.yaml", {})
