"""The example service: an HTTP API built on the runtime. The demo's and the tests' target.

Endpoints read through the runtime's asyncio cache (examples/catalogue.py: the shard-type
catalogue for 2 hours, per-user permissions for 5 minutes with jitter), write to a real
SQLite database (so database budgets have real query timings), and enqueue a flow (an order
parent with one stock-reservation child per item) that workers in examples/jobs.py process.

Nothing blocks the event loop: Redis is awaited through the asyncio client (cache and flow
producer), SQLite runs in the thread pool (`Database.in_thread`). The read-only catalogue
endpoint (`GET /shards/{shard_type}`) also sits behind the runtime's HTTP response cache
(runtime/asgi_cache.py), and answers over one TCP segment are gzip-compressed (threshold
measured: docs/benchmarks.md, "Compression threshold").

`--no-cache` (`ServiceSettings.cache_enabled=False`) sends every lookup to the database and
turns the response cache off, so two runs show what caching buys; `/metrics` carries the
caches' hits and misses per cache and layer. `--max-concurrency N --delay MS` give the
service a known capacity of N / MS requests per millisecond (examples/capacity.py), for load
tests that must find it.
`python -m examples.service --port 8000 --redis URL [--no-cache] [--n-plus-one]
[--max-concurrency N] [--delay MS] [--no-static-compression] [--no-static-cache]
[--slow ROUTE=AMOUNT]`. `--slow` injects a known regression (examples/slowdown.py) for
bench/gate_power.py.
`/` is a small web page (examples/frontend.py) for frontend budgets; `--no-static-compression`
and `--no-static-cache` switch its levers off."""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from prometheus_client import generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, request_response

from examples.capacity import CapacityLimit
from examples.catalogue import Catalogue
from examples.db import Database
from examples.frontend import FrontendOptions, mount
from examples.slowdown import Slow, Slowdown, parse_slow
from runtime import (
    AsyncCache,
    AsyncFlowProducer,
    CacheMetrics,
    FlowJob,
    QueueDepthCollector,
    RedisConnection,
    RuntimeMetrics,
    connect,
)
from runtime.asgi import ObservabilityMiddleware
from runtime.asgi_cache import CacheMiddleware

ORDERS_QUEUE, STOCK_QUEUE = "orders", "stock"
GZIP_MINIMUM = 1400
"""Bytes. Below one TCP segment (1448 bytes) compression saves no packet but still costs
~20 µs of CPU per answer; level 6 compresses as well as 9 at a quarter of the CPU."""
CATALOGUE_ROUTE = "/shards/{shard_type}"
CATALOGUE_RESPONSE_TTL = 300.0

Loader = Callable[[], Awaitable[Any]]
Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]


class Lookup(Protocol):
    """What the service needs from a cache: a read-through lookup (`shard:<name>`,
    `perm:<user>`) and forgetting a user's permissions after they changed."""

    async def get_or_load(self, key: str, loader: Loader, ttl: float | None = None) -> Any: ...

    async def forget_user(self, user_id: int) -> None: ...


class NoCache:
    """Cache switched off: every lookup goes to the database."""

    async def get_or_load(self, key: str, loader: Loader, ttl: float | None = None) -> Any:
        return await loader()

    async def forget_user(self, user_id: int) -> None:
        pass


@dataclass
class ServiceSettings:
    redis_url: str
    db_path: Path
    cache_enabled: bool = True
    n_plus_one: bool = False  # read order items one query each (the classic N+1)
    max_concurrency: int = 0  # > 0: at most this many requests worked on at once
    delay: float = 0.0  # seconds each request holds its slot (a slow dependency)
    frontend: FrontendOptions = field(default_factory=FrontendOptions)
    """The web page's levers (examples/frontend.py): gzip and cache headers."""
    slow: Mapping[str, Slow] = field(default_factory=dict)  # injected regressions (benchmarks)


class Deferred:
    """An ASGI app that exists only once the lifespan has built it inside the event loop
    (the asyncio caches must be created there)."""

    def __init__(self) -> None:
        self.app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if self.app is None:
            raise RuntimeError("the service is not started yet (its lifespan did not run)")
        await self.app(scope, receive, send)


class Counted:
    """The database queries of each request to `app`, recorded under `route` (an ASGI app:
    Starlette would take a plain function for a request handler)."""

    def __init__(self, db: Database, route: str, app: ASGIApp) -> None:
        self.db, self.route, self.app = db, route, app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        with self.db.counting(self.route):  # a response-cache hit counts 0 queries
            await self.app(scope, receive, send)


@dataclass
class Live:
    """What the lifespan builds inside the event loop."""

    lookups: Lookup = field(default_factory=NoCache)
    closing: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


def create_app(settings: ServiceSettings, metrics: RuntimeMetrics | None = None) -> Any:
    metrics = metrics or RuntimeMetrics()
    conn = connect(settings.redis_url)
    db = Database(settings.db_path, metrics)
    db.setup()
    metrics.registry.register(QueueDepthCollector(conn.sync, [ORDERS_QUEUE, STOCK_QUEUE]))
    shop = Shop(settings, metrics, conn, db)
    app = Starlette(
        routes=shop.routes(),
        middleware=[
            Middleware(GZipMiddleware, minimum_size=GZIP_MINIMUM, compresslevel=6),
            Middleware(CapacityLimit, settings.max_concurrency, settings.delay),
        ],
        lifespan=shop.lifespan,
    )
    inner = Slowdown(app, settings.slow) if settings.slow else app
    return mount(ObservabilityMiddleware(inner, metrics), settings.frontend)


class Shop:
    """The service's endpoints over its database, its queues and (once the lifespan has
    started them inside the event loop) its caches."""

    def __init__(
        self,
        settings: ServiceSettings,
        metrics: RuntimeMetrics,
        conn: RedisConnection,
        db: Database,
    ) -> None:
        self.settings, self.metrics, self.conn, self.db = settings, metrics, conn, db
        self.flows = AsyncFlowProducer(conn.aio, metrics=metrics)
        self.live = Live()
        self.catalogue_app = Deferred()

    def routes(self) -> list[Route]:
        def route(
            path: str, handler: Callable[[Request], Awaitable[Response]], method: str
        ) -> Route:
            return Route(path, self.counted(path, request_response(handler)), methods=[method])

        return [
            Route(CATALOGUE_ROUTE, self.catalogue_app, methods=["GET"]),
            route("/users/{user_id:int}/permissions", self.permissions, "GET"),
            route("/users/{user_id:int}/permissions", self.grant, "POST"),
            route("/orders", self.create_order, "POST"),
            route("/orders/{order_id:int}", self.get_order, "GET"),
            Route("/health", self.health),
            Route("/metrics", self.metrics_endpoint),
        ]

    def counted(self, route: str, app: ASGIApp) -> Counted:
        return Counted(self.db, route, app)

    @asynccontextmanager
    async def lifespan(self, _: Any) -> AsyncIterator[None]:
        app: Any = request_response(self.shard)  # Starlette's and our ASGI types differ
        if self.settings.cache_enabled:
            app = await self._start_caches(app)
        self.catalogue_app.app = self.counted(CATALOGUE_ROUTE, app)
        try:
            yield
        finally:
            for close in self.live.closing:
                await close()
            await self.conn.aio.aclose()

    async def _start_caches(self, app: Any) -> Any:
        """The lookups' cache and the catalogue's response cache, started; `app` behind the
        latter. The caches count into the service's registry, so /metrics (and the
        cache-hit-ratio budget) see them. Shard types are warmed before the first request."""
        cache_metrics = CacheMetrics.from_runtime(self.metrics)
        catalogue = Catalogue(self.conn.aio, self.metrics, cache_metrics=cache_metrics)
        responses = AsyncCache(
            "http-catalogue",
            self.conn.aio,
            metrics=cache_metrics,
            ttl=CATALOGUE_RESPONSE_TTL,
            local_max_entries=1_000,
            local_ttl=30,
        )
        await catalogue.start()  # in-process layers in use from the first request
        await responses.start()
        await catalogue.warm_shard_types(self.db)
        self.live.lookups = catalogue
        self.live.closing += [catalogue.aclose, responses.aclose]
        return CacheMiddleware(app, responses, ttl=CATALOGUE_RESPONSE_TTL, vary=("accept",))

    async def shard(self, request: Request) -> Response:
        name = request.path_params["shard_type"]

        async def load() -> dict[str, Any] | None:
            rows = await self.db.aquery(
                "shard_type", "SELECT name, replicas, tier FROM shard_types WHERE name = ?", (name,)
            )
            return dict(zip(("name", "replicas", "tier"), rows[0], strict=True)) if rows else None

        found = await self.live.lookups.get_or_load(f"shard:{name}", load, ttl=7200)
        return JSONResponse(found) if found else JSONResponse({"error": "unknown"}, 404)

    async def permissions(self, request: Request) -> Response:
        user = int(request.path_params["user_id"])

        async def load() -> list[str]:
            rows = await self.db.aquery(
                "permissions",
                "SELECT permission FROM permissions WHERE user_id = ? ORDER BY permission",
                (user,),
            )
            return [r[0] for r in rows]

        found = await self.live.lookups.get_or_load(f"perm:{user}", load, ttl=300)
        return JSONResponse({"user": user, "permissions": found})

    async def grant(self, request: Request) -> Response:
        user = int(request.path_params["user_id"])
        try:
            permission = str(json.loads(await request.body() or b"{}")["permission"])
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse({"error": f"bad grant: {exc}"}, 400)
        await self.db.aexecute("grant", "INSERT INTO permissions VALUES (?, ?)", (user, permission))
        await self.live.lookups.forget_user(user)  # source first, then the cache
        return JSONResponse({"user": user, "granted": permission}, 201)

    async def create_order(self, request: Request) -> Response:
        """The order in the database, then its flow: a `fulfil` parent that runs once every
        item's `reserve` child has."""
        try:
            body = json.loads(await request.body() or b"{}")
            items = [(str(i["sku"]), int(i["qty"])) for i in body.get("items", [])]
            user = int(body.get("user", 0))
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse({"error": f"bad order: {exc}"}, 400)
        if not items:
            return JSONResponse({"error": "an order needs items"}, 400)
        order_id = await self.db.in_thread(self._insert_order, user, items)
        root = await self.flows.add(
            FlowJob(
                ORDERS_QUEUE,
                "fulfil",
                {"order": order_id},
                children=[
                    FlowJob(STOCK_QUEUE, "reserve", {"order": order_id, "sku": sku, "qty": qty})
                    for sku, qty in items
                ],
            )
        )
        return JSONResponse({"order": order_id, "job": root.id}, 201)

    def _insert_order(self, user: int, items: list[tuple[str, int]]) -> int:
        order_id = self.db.execute(
            "insert_order",
            "INSERT INTO orders (user_id, created) VALUES (?, ?)",
            (user, time.time()),
        )
        for sku, qty in items:
            self.db.execute(
                "insert_item", "INSERT INTO order_items VALUES (?, ?, ?)", (order_id, sku, qty)
            )
        return order_id

    async def get_order(self, request: Request) -> Response:
        found = await self.db.in_thread(self._read_order, int(request.path_params["order_id"]))
        return JSONResponse(found) if found else JSONResponse({"error": "no such order"}, 404)

    def _read_order(self, order_id: int) -> dict[str, Any] | None:
        rows = self.db.query("order", "SELECT id, user_id FROM orders WHERE id = ?", (order_id,))
        if not rows:
            return None
        items = (
            self._items_one_by_one(order_id) if self.settings.n_plus_one else self._items(order_id)
        )
        return {
            "order": order_id,
            "user": rows[0][1],
            "items": [{"sku": s, "qty": q} for s, q in items],
        }

    def _items(self, order_id: int) -> list[Any]:
        return self.db.query(
            "items", "SELECT sku, qty FROM order_items WHERE order_id = ?", (order_id,)
        )

    def _items_one_by_one(self, order_id: int) -> list[Any]:
        """The classic N+1 (`--n-plus-one`): one query for the order's SKUs, then one per item."""
        skus = self.db.query(
            "item_skus", "SELECT sku FROM order_items WHERE order_id = ?", (order_id,)
        )
        return [
            self.db.query(
                "item",
                "SELECT sku, qty FROM order_items WHERE order_id = ? AND sku = ?",
                (order_id, s[0]),
            )[0]
            for s in skus
        ]

    async def health(self, _: Request) -> Response:
        return JSONResponse({"ok": True})

    async def metrics_endpoint(self, _: Request) -> Response:
        return Response(
            generate_latest(self.metrics.registry),
            media_type="text/plain; version=0.0.4; charset=utf-8",
        )


def main(argv: list[str] | None = None) -> None:
    import uvicorn  # noqa: PLC0415 - only the CLI entry point needs the server

    parser = _parser()
    args = parser.parse_args(argv)
    if args.max_concurrency < 0 or args.delay < 0:
        parser.error("--max-concurrency and --delay must be >= 0")
    args.db.parent.mkdir(parents=True, exist_ok=True)
    settings = ServiceSettings(
        args.redis,
        args.db,
        not args.no_cache,
        args.n_plus_one,
        max_concurrency=args.max_concurrency,
        delay=args.delay / 1000,
        frontend=FrontendOptions(not args.no_static_compression, not args.no_static_cache),
        slow=dict(args.slow),
    )
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="warning")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--redis", default=os.environ.get("CASTIEL_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument("--db", type=Path, default=Path(".castiel/example.db"))
    parser.add_argument("--no-cache", action="store_true", help="switch the caches off")
    parser.add_argument(
        "--n-plus-one", action="store_true", help="read order items with one query each"
    )
    parser.add_argument(
        "--no-static-compression",
        action="store_true",
        help="send the web page (/ and /static/) without gzip",
    )
    parser.add_argument(
        "--no-static-cache",
        action="store_true",
        help="send the web page with Cache-Control: no-store",
    )
    parser.add_argument(
        "--max-concurrency",
        type=int,
        default=0,
        metavar="N",
        help="work on at most N requests at once; the rest queue (default: no limit)",
    )
    parser.add_argument(
        "--delay",
        type=float,
        default=0.0,
        metavar="MS",
        help="each request holds its slot MS milliseconds more (a slow dependency); with "
        "--max-concurrency N the service carries at most N * 1000 / MS requests/s",
    )
    parser.add_argument(
        "--slow",
        action="append",
        default=[],
        type=parse_slow,
        metavar="ROUTE=AMOUNT",
        help="inject a regression: /orders=25%% (25%% slower) or POST /orders=20ms",
    )
    return parser


if __name__ == "__main__":
    main()
