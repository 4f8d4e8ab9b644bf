"""AzureMonitorCollector with the real azure-monitor-query client against a local HTTP server
that speaks the Log Analytics query API (POST /v1/workspaces/{id}/query, /v1/{resource}/query):
tables, partial errors, 4xx. The server cannot run KQL; it answers canned tables computed in
Python the way the KQL would, and records the KQL it was sent so the tests can check it."""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from castiel.redis_server import free_port
from collectors.azure_kql import kql_string
from collectors.azure_monitor import (
    AzureMetricsCollector,
    AzureMonitorCollector,
    AzureMonitorError,
    AzureThrottled,
    PartialPolicy,
    Schema,
    Window,
    logs_client,
    metrics_client,
    requests_histogram_kql,
    snake,
    split_operation,
)
from collectors.base import collect_all
from collectors.model import Histogram, MetricKind, bucket_index

Answer = tuple[int, dict[str, Any], dict[str, str]]


@dataclass
class LogAnalytics:
    """`answer(path, body)` decides each reply; `requests` records (path, body, auth header)."""

    url: str
    answer: Callable[[str, dict[str, Any]], Answer]
    requests: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)

    def queries(self) -> list[str]:
        return [str(body.get("query", "")) for _, body, _ in self.requests]


@pytest.fixture
def server() -> Iterator[LogAnalytics]:
    state = LogAnalytics("", lambda path, body: (500, {}, {}))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            state.requests.append((self.path, body, self.headers.get("Authorization", "")))
            status, payload, headers = state.answer(self.path, body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


class Token:
    """The smallest credential the client accepts (`get_token` → AccessToken-like)."""

    def get_token(self, *scopes: str, **kw: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken("test-token", int(time.time()) + 3600)


def collector(server: LogAnalytics, **kw: Any) -> AzureMonitorCollector:
    client = logs_client(server.url, Token())
    kw.setdefault("workspace_id", "ws-1")
    return AzureMonitorCollector(client, call_kwargs={"enforce_https": False}, **kw)


def table(columns: list[tuple[str, str]], rows: list[list[Any]]) -> dict[str, Any]:
    return {
        "tables": [
            {
                "name": "PrimaryResult",
                "columns": [{"name": n, "type": t} for n, t in columns],
                "rows": rows,
            }
        ]
    }


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# What the (pretend) service recorded: per-request durations in seconds, per operation.
T0 = 1_700_000_000.0
DURATIONS = {
    "GET /orders/{id}": [0.004, 0.006, 0.012, 0.25, 0.0],
    "POST /orders": [0.03 + i * 0.001 for i in range(40)],
}
EMPTY_HIST = [("t", "datetime"), ("b", "long"), ("n", "long")]


def histogram_rows(t: float, durations: dict[str, list[float]]) -> list[list[Any]]:
    """The rows the histogram KQL returns: counts per store bucket (null = zero bucket)."""
    rows = []
    for op, values in durations.items():
        groups: dict[int | None, list[float]] = {}
        for v in values:
            groups.setdefault(None if v <= 1e-9 else bucket_index(v), []).append(v)
        for b, vs in groups.items():
            rows.append([iso(t), op, b, len(vs), sum(vs), min(vs), max(vs)])
    return rows


HIST_COLUMNS = [
    ("t", "datetime"),
    ("operation", "string"),
    ("b", "long"),
    ("n", "long"),
    ("total", "real"),
    ("lo", "real"),
    ("hi", "real"),
]


def answer_all(t: float, dep_type: str = "SQL") -> Callable[[str, dict[str, Any]], Answer]:
    """Canned tables for each of the collector's queries, recognised by their KQL."""

    def answer(path: str, body: dict[str, Any]) -> Answer:
        q = body["query"]
        requests = "AppRequests" in q or q.startswith("requests")
        if requests and "ceiling(log(d)" in q:
            return 200, table(HIST_COLUMNS, histogram_rows(t, DURATIONS)), {}
        if requests and "by t, operation = " in q and "ok = " in q:
            rows = [
                [iso(t), "GET /orders/{id}", "200", True, 4],
                [iso(t), "GET /orders/{id}", "500", False, 1],
                [iso(t), "POST /orders", "201", True, 40],
            ]
            cols = [("t", "datetime"), ("operation", "string"), ("status", "string")]
            return 200, table([*cols, ("ok", "bool"), ("n", "long")], rows), {}
        if requests and "percentilew" in q:
            cols = [("t", "datetime"), ("operation", "string"), ("p50", "real")]
            rows = [[iso(t), "POST /orders", 0.05, 0.07, 0.071]]
            return 200, table([*cols, ("p95", "real"), ("p99", "real")], rows), {}
        dependencies = "AppDependencies" in q or q.startswith("dependencies")
        if dependencies and "ceiling(log(d)" in q:
            cols = [("t", "datetime"), ("dep_type", "string"), ("dep_target", "string")]
            cols += [("dep_name", "string"), *HIST_COLUMNS[2:]]
            b = bucket_index(0.002)
            rows = [[iso(t), dep_type, "db.sqlite", "insert_order", b, 3, 0.006, 0.002, 0.002]]
            return 200, table(cols, rows), {}
        if dependencies and "ok = " in q:
            cols = [("t", "datetime"), ("dep_type", "string"), ("dep_target", "string")]
            rows = [[iso(t), "Redis", "cache:6379", False, 2]]
            return 200, table([*cols, ("ok", "bool"), ("n", "long")], rows), {}
        if "exc_type" in q:
            cols = [("t", "datetime"), ("exc_type", "string"), ("n", "long")]
            return 200, table(cols, [[iso(t), "TimeoutError", 3]]), {}
        return 200, table(EMPTY_HIST, []), {}

    return answer


# --- pure parts ----------------------------------------------------------------------------------


def test_kql_literals_and_names() -> None:
    assert kql_string('a "b" \\c') == '"a \\"b\\" \\\\c"'
    with pytest.raises(ValueError, match="control characters"):
        kql_string("a\nb")
    assert split_operation("GET /orders/{id}") == ("GET", "/orders/{id}")
    assert split_operation("ProcessJob") == ("", "ProcessJob")
    assert snake("serverLoad") == "server_load"
    assert snake("Percentage CPU") == "percentage_cpu"


def test_both_schemas_build_their_own_kql() -> None:
    w = Window(datetime.fromtimestamp(T0, UTC), datetime.fromtimestamp(T0 + 60, UTC))
    ws = requests_histogram_kql(Schema.WORKSPACE, w, ("shop-api",))
    classic = requests_histogram_kql(Schema.CLASSIC, w)
    assert ws.startswith("AppRequests\n") and "DurationMs" in ws and "ItemCount" in ws
    assert 'AppRoleName in ("shop-api")' in ws
    assert classic.startswith("requests\n") and "todouble(duration)" in classic
    assert "itemCount" in classic and "cloud_RoleName" not in classic
    # Live windows go by ingestion time, so late records are counted once when they arrive.
    assert "ingestion_time() > datetime(2023-11-14T22:13:20.000000Z)" in ws
    ranged = Window(w.start, w.end, step=w.end - w.start)
    assert "bin_at(TimeGenerated, 60000ms" in requests_histogram_kql(Schema.WORKSPACE, ranged)


# --- the real client against the local server ----------------------------------------------------


def test_range_collection_sends_kql_and_maps_every_table(server: LogAnalytics) -> None:
    server.answer = answer_all(T0 + 60)
    c = collector(server, roles=("shop-api",))
    batch = c.collect_range(T0, T0 + 60, 60)
    paths = {path for path, _, _ in server.requests}
    assert paths == {"/v1/workspaces/ws-1/query"}
    assert all(auth == "Bearer test-token" for _, _, auth in server.requests)
    queries = server.queries()
    assert len(queries) == 7
    assert all('AppRoleName in ("shop-api")' in q for q in queries)
    assert all("TimeGenerated >= datetime(2023-11-14T22:13:20.000000Z)" in q for q in queries)
    assert sum("percentilew(d, w, 95)" in q for q in queries) == 2
    assert any(q.startswith("AppExceptions") for q in queries)
    bodies = [body for _, body, _ in server.requests]
    assert all(b["timespan"].startswith("2023-11-14T22:13:20") for b in bodies)

    hists = {(h.key.name, h.key.label("route")): h for h in batch.histograms}
    for op, values in DURATIONS.items():
        method, route = split_operation(op)
        h = hists[("castiel_http_request_duration_seconds", route)]
        assert h.key.label("method") == method
        assert (h.point.start, h.point.end) == (T0, T0 + 60)
        # Bucket for bucket what an in-process recorder builds: percentiles within 1 %.
        assert h.point.histogram == Histogram.of(values) or (
            h.point.histogram.sparse() == Histogram.of(values).sparse()
            and math.isclose(h.point.histogram.total, sum(values))
        )
        for q in (50, 95, 99):
            assert h.point.histogram.percentile(q) == Histogram.of(values).percentile(q)
    db = hists[("castiel_db_query_duration_seconds", "")]
    assert db.key.label_dict == {"query": "insert_order"} and db.point.histogram.count == 3

    scalars = {(s.key.name, s.key.labels): s for s in batch.scalars}
    failed = scalars[
        (
            "castiel_http_requests_total",
            (("method", "GET"), ("route", "/orders/{id}"), ("status", "500")),
        )
    ]
    assert failed.kind is MetricKind.COUNTER and failed.point.value == 1
    ratio = scalars[("castiel_http_error_ratio", (("route", "/orders/{id}"),))]
    assert ratio.point.value == pytest.approx(0.2)
    p95 = scalars[
        (
            "castiel_http_request_duration_seconds:p95",
            (("method", "POST"), ("route", "/orders")),
        )
    ]
    assert p95.kind is MetricKind.GAUGE and p95.point.value == 0.07
    assert p95.point.timestamp == T0 + 60
    calls = [s for s in batch.scalars if s.key.name == "castiel_dependency_calls_total"]
    assert [(s.key.label_dict, s.point.value) for s in calls] == [
        ({"type": "Redis", "target": "cache:6379", "success": "false"}, 2.0)
    ]
    exc = [s for s in batch.scalars if s.key.name == "castiel_exceptions_total"]
    assert [(s.key.label("type"), s.point.value) for s in exc] == [("TimeoutError", 3.0)]
    ok = [s.point.value for s in batch.scalars if s.key.name == "castiel_source_query_ok"]
    assert ok == [1.0] * 7


def test_classic_schema_queries_the_application_insights_resource(server: LogAnalytics) -> None:
    server.answer = answer_all(T0 + 30)
    app = "/subscriptions/s1/resourceGroups/rg/providers/microsoft.insights/components/shop"
    c = collector(server, workspace_id=None, resource_id=app, schema=Schema.CLASSIC)
    batch = c.collect_range(T0, T0 + 30, 30)
    assert {path for path, _, _ in server.requests} == {f"/v1{app}/query"}
    queries = server.queries()
    assert {q.split("\n", 1)[0] for q in queries} == {"requests", "dependencies", "exceptions"}
    assert all("timestamp >= datetime(" in q for q in queries)
    assert any("todouble(duration)" in q for q in queries)
    assert any(h.key.name == "castiel_http_request_duration_seconds" for h in batch.histograms)


def test_live_windows_follow_each_other_by_ingestion_time(server: LogAnalytics) -> None:
    server.answer = answer_all(T0)  # the service stamps t = the window end, as KQL would
    c = collector(server)
    assert len(c.collect(T0)) == 0 and not server.requests  # the first call sets the start
    batch = c.collect(T0 + 15)
    assert all(s.point.timestamp == T0 + 15 for s in batch.scalars)
    assert all((h.point.start, h.point.end) == (T0, T0 + 15) for h in batch.histograms)
    q = server.queries()[0]
    assert "ingestion_time() > datetime(2023-11-14T22:13:20.000000Z)" in q
    assert "ingestion_time() <= datetime(2023-11-14T22:13:35.000000Z)" in q
    # Event times up to an hour older than the window still count (late ingestion).
    assert server.requests[0][1]["timespan"].startswith("2023-11-14T21:13:20")
    c.collect(T0 + 30)
    assert "ingestion_time() > datetime(2023-11-14T22:13:35.000000Z)" in server.queries()[-1]


def partial(t: float) -> Callable[[str, dict[str, Any]], Answer]:
    full = answer_all(t)

    def answer(path: str, body: dict[str, Any]) -> Answer:
        status, payload, headers = full(path, body)
        if "percentilew" in body["query"] and "AppRequests" in body["query"]:
            payload["error"] = {
                "code": "PartialError",
                "message": "There were some errors when processing your query.",
                "details": [
                    {
                        "code": "EngineError",
                        "message": "Something went wrong processing your query on the server.",
                        "innererror": {
                            "code": "-2133196797",
                            "message": "Query exceeded the memory limit (E_RUNAWAY_QUERY)",
                        },
                    }
                ],
                "innererror": {"code": "E_RUNAWAY", "message": "Query exceeded the memory limit"},
            }
        return status, payload, headers

    return answer


def test_a_partial_result_is_an_error_by_default(server: LogAnalytics) -> None:
    server.answer = partial(T0 + 60)
    c = collector(server)
    with pytest.raises(AzureMonitorError, match=r"partial result.*requests-percentiles") as err:
        c.collect_range(T0, T0 + 60, 60)
    assert "memory limit" in str(err.value)
    # The monitor loop records it and goes on with the other collectors.
    result = collect_all([c], T0 + 120)
    assert result.errors == {}  # the first live call only sets the window start
    result = collect_all([c], T0 + 180)
    assert "memory limit" in result.errors["azure-monitor"]


def test_a_partial_result_can_mean_no_data_for_that_query(server: LogAnalytics) -> None:
    server.answer = partial(T0 + 60)
    c = collector(server, on_partial=PartialPolicy.NO_DATA)
    batch = c.collect_range(T0, T0 + 60, 60)
    names = {s.key.name for s in batch.scalars}
    assert "castiel_http_request_duration_seconds:p95" not in names
    assert "castiel_http_requests_total" in names  # the other queries still count
    ok = {s.key.label("query"): s.point.value for s in batch.scalars if s.key.name.endswith("ok")}
    assert ok["requests-percentiles"] == 0.0 and ok["requests-count"] == 1.0
    assert len(c.problems) == 1 and "memory limit" in c.problems[0]


def error(status: int, code: str, message: str, **headers: str) -> Answer:
    return status, {"error": {"code": code, "message": message}}, headers


def test_throttling_waits_for_retry_after_without_losing_the_window(server: LogAnalytics) -> None:
    c = collector(server)
    c.collect(T0)
    server.answer = lambda p, b: error(
        429, "TooManyRequests", "Rate limit exceeded", **{"Retry-After": "7"}
    )
    with pytest.raises(AzureThrottled, match=r"429 Too Many Requests.*next try in 7 s") as err:
        c.collect(T0 + 15)
    assert err.value.retry_after == 7
    sent = len(server.requests)
    with pytest.raises(AzureThrottled, match="next try in 3 s"):
        c.collect(T0 + 19)
    assert len(server.requests) == sent  # no request while Retry-After runs
    server.answer = answer_all(T0 + 30)
    batch = c.collect(T0 + 30)
    assert batch.histograms
    # The next successful window starts where the last successful one ended.
    assert "ingestion_time() > datetime(2023-11-14T22:13:20.000000Z)" in server.queries()[-1]


def test_bad_query_forbidden_and_unreachable_are_clear_messages(server: LogAnalytics) -> None:
    server.answer = lambda p, b: error(
        400, "BadArgumentError", "'summarize' operator: Failed to resolve column 'DurationMs'"
    )
    with pytest.raises(
        AzureMonitorError, match=r"rejected the query to workspace ws-1 \(400\).*DurationMs"
    ):
        collector(server).collect_range(T0, T0 + 60, 60)
    server.answer = lambda p, b: error(
        403, "InsufficientAccessError", "The provided credentials have insufficient access"
    )
    with pytest.raises(AzureMonitorError, match=r"403 Forbidden.*Log Analytics Reader") as err:
        collector(server).collect_range(T0, T0 + 60, 60)
    assert "test-token" not in str(err.value)
    gone = AzureMonitorCollector(
        logs_client(f"http://127.0.0.1:{free_port()}", Token()),
        workspace_id="ws-1",
        call_kwargs={"enforce_https": False},
    )
    with pytest.raises(AzureMonitorError, match="does not answer"):
        gone.collect_range(T0, T0 + 60, 60)


def test_check_runs_one_tiny_query(server: LogAnalytics) -> None:
    server.answer = lambda p, b: (200, table([("Count", "long")], [[42]]), {})
    assert "42" in collector(server).check()
    assert server.queries() == ["AppRequests | take 1 | count"]


def test_platform_metrics_through_metrics_client(server: LogAnalytics) -> None:
    """azure-monitor-querymetrics' MetricsClient against the same local server
    (POST /subscriptions/{id}/metrics:getBatch)."""
    cache = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Cache/Redis/cache1"

    def answer(path: str, body: dict[str, Any]) -> Answer:
        value = {
            "starttime": iso(T0 - 600),
            "endtime": iso(T0),
            "interval": "PT1M",
            "namespace": "Microsoft.Cache/redis",
            "resourceregion": "westeurope",
            "value": [
                {
                    "id": f"{cache}/providers/Microsoft.Insights/metrics/serverLoad",
                    "name": {"value": "serverLoad", "localizedValue": "Server Load"},
                    "unit": "Percent",
                    "timeseries": [
                        {
                            "metadatavalues": [{"name": {"value": "ShardId"}, "value": "0"}],
                            "data": [
                                {"timeStamp": iso(T0 - 120), "maximum": 31.5},
                                {"timeStamp": iso(T0 - 60), "maximum": 42.0},
                                {"timeStamp": iso(T0)},
                            ],
                        }
                    ],
                }
            ],
        }
        return 200, {"values": [value]}, {}

    server.answer = answer
    c = AzureMetricsCollector(
        metrics_client(server.url, Token()),
        resource_ids=(cache,),
        namespace="Microsoft.Cache/redis",
        metric_names=("serverLoad",),
        call_kwargs={"enforce_https": False},
    )
    batch = c.collect(T0)
    path, body, _ = server.requests[0]
    parts = urlsplit(path)
    assert parts.path == "/subscriptions/s1/metrics:getBatch"
    params = parse_qs(parts.query)
    assert params["metricnames"] == ["serverLoad"] and params["aggregation"] == ["Maximum"]
    assert body == {"resourceids": [cache]}
    assert [(s.key.name, s.key.label_dict, s.point.value) for s in batch.scalars] == [
        (
            "azure_server_load",
            {"shard_id": "0", "resource": "cache1", "aggregation": "maximum"},
            42.0,
        )
    ]
