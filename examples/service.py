"""The example service: an HTTP API built on the runtime. The demo's and the tests' target.

Endpoints read through the runtime cache (examples/catalogue.py: the shard-type catalogue for
2 hours, per-user permissions for 5 minutes with jitter), write to a real SQLite database (so
database budgets have real query timings), and enqueue a flow (an order parent with one
stock-reservation child per item) that workers in examples/jobs.py process. `--no-cache`
(`ServiceSettings.cache_enabled=False`) sends every lookup to the database, so two runs show
what caching buys; `/metrics` carries the cache's hits and misses per cache and layer.
`python -m examples.service --port 8000 --redis URL [--no-cache] [--n-plus-one]`."""

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
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from examples.catalogue import Catalogue
from examples.db import Database
from examples.slowdown import Slow, Slowdown, parse_slow
from runtime import FlowJob, FlowProducer, QueueDepthCollector, RuntimeMetrics, connect
from runtime.asgi import ObservabilityMiddleware

ORDERS_QUEUE, STOCK_QUEUE = "orders", "stock"


class Lookup(Protocol):
    """What the service needs from a cache: a read-through lookup (`shard:<name>`,
    `perm:<user>`) and forgetting a user's permissions after they changed."""

    def get_or_load(self, key: str, loader: Callable[[], Any], ttl: float | None = None) -> Any: ...

    def forget_user(self, user_id: int) -> None: ...

    def close(self) -> None: ...


class NoCache:
    """Cache switched off: every lookup goes to the database."""

    def get_or_load(self, key: str, loader: Callable[[], Any], ttl: float | None = None) -> Any:
        return loader()

    def forget_user(self, user_id: int) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass
class ServiceSettings:
    redis_url: str
    db_path: Path
    cache_enabled: bool = True
    n_plus_one: bool = False  # read order items one query each (the classic N+1)
    slow: Mapping[str, Slow] = field(default_factory=dict)  # injected regressions (benchmarks)


def create_app(
    settings: ServiceSettings, metrics: RuntimeMetrics | None = None, cache: Lookup | None = None
) -> Any:
    metrics = metrics or RuntimeMetrics()
    conn = connect(settings.redis_url)
    db = Database(settings.db_path, metrics)
    db.setup()
    lookups: Lookup = NoCache()
    if settings.cache_enabled:
        # The catalogue's caches count into the service's registry, so /metrics (and the
        # cache-hit-ratio budget) see them. Shard types are warmed before the first request.
        catalogue = cache or Catalogue(conn.sync, metrics)
        if isinstance(catalogue, Catalogue):
            catalogue.warm_shard_types(db)
            catalogue.wait_ready()  # in-process layers in use from the first request
        lookups = catalogue
    flows = FlowProducer(conn.sync, metrics=metrics)
    metrics.registry.register(QueueDepthCollector(conn.sync, [ORDERS_QUEUE, STOCK_QUEUE]))

    def counted(route: str, handler: Callable[[Request], Awaitable[Response]]) -> Route:
        async def endpoint(request: Request) -> Response:
            with db.counting(route):
                return await handler(request)

        return Route(route, endpoint, methods=["POST"] if route == "/orders" else ["GET"])

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        yield
        lookups.close()

    async def shard(request: Request) -> Response:
        name = request.path_params["shard_type"]

        def load() -> dict[str, Any] | None:
            rows = db.query(
                "shard_type", "SELECT name, replicas, tier FROM shard_types WHERE name = ?", (name,)
            )
            return dict(zip(("name", "replicas", "tier"), rows[0], strict=True)) if rows else None

        found = lookups.get_or_load(f"shard:{name}", load, ttl=7200)
        return JSONResponse(found) if found else JSONResponse({"error": "unknown"}, 404)

    async def permissions(request: Request) -> Response:
        user = int(request.path_params["user_id"])

        def load() -> list[str]:
            rows = db.query(
                "permissions",
                "SELECT permission FROM permissions WHERE user_id = ? ORDER BY permission",
                (user,),
            )
            return [r[0] for r in rows]

        return JSONResponse(
            {"user": user, "permissions": lookups.get_or_load(f"perm:{user}", load, ttl=300)}
        )

    async def grant(request: Request) -> Response:
        user = int(request.path_params["user_id"])
        try:
            permission = str(json.loads(await request.body() or b"{}")["permission"])
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse({"error": f"bad grant: {exc}"}, 400)
        db.execute("grant", "INSERT INTO permissions VALUES (?, ?)", (user, permission))
        lookups.forget_user(user)  # source first, then the cache: no process serves the old list
        return JSONResponse({"user": user, "granted": permission}, 201)

    async def create_order(request: Request) -> Response:
        try:
            body = json.loads(await request.body() or b"{}")
            items = [(str(i["sku"]), int(i["qty"])) for i in body.get("items", [])]
            user = int(body.get("user", 0))
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse({"error": f"bad order: {exc}"}, 400)
        if not items:
            return JSONResponse({"error": "an order needs items"}, 400)
        order_id = db.execute(
            "insert_order",
            "INSERT INTO orders (user_id, created) VALUES (?, ?)",
            (user, time.time()),
        )
        for sku, qty in items:
            db.execute(
                "insert_item", "INSERT INTO order_items VALUES (?, ?, ?)", (order_id, sku, qty)
            )
        root = flows.add(
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

    async def get_order(request: Request) -> Response:
        order_id = int(request.path_params["order_id"])
        rows = db.query("order", "SELECT id, user_id FROM orders WHERE id = ?", (order_id,))
        if not rows:
            return JSONResponse({"error": "no such order"}, 404)
        if settings.n_plus_one:
            skus = db.query(
                "item_skus", "SELECT sku FROM order_items WHERE order_id = ?", (order_id,)
            )
            items = [
                db.query(
                    "item",
                    "SELECT sku, qty FROM order_items WHERE order_id = ? AND sku = ?",
                    (order_id, s[0]),
                )[0]
                for s in skus
            ]
        else:
            items = db.query(
                "items", "SELECT sku, qty FROM order_items WHERE order_id = ?", (order_id,)
            )
        return JSONResponse(
            {
                "order": order_id,
                "user": rows[0][1],
                "items": [{"sku": s, "qty": q} for s, q in items],
            }
        )

    async def grant_endpoint(request: Request) -> Response:
        with db.counting("/users/{user_id:int}/permissions"):
            return await grant(request)

    async def health(_: Request) -> Response:
        return JSONResponse({"ok": True})

    async def metrics_endpoint(_: Request) -> Response:
        return Response(
            generate_latest(metrics.registry), media_type="text/plain; version=0.0.4; charset=utf-8"
        )

    app = Starlette(
        routes=[
            counted("/shards/{shard_type}", shard),
            counted("/users/{user_id:int}/permissions", permissions),
            Route("/users/{user_id:int}/permissions", grant_endpoint, methods=["POST"]),
            counted("/orders", create_order),
            counted("/orders/{order_id:int}", get_order),
            Route("/health", health),
            Route("/metrics", metrics_endpoint),
        ],
        lifespan=lifespan,
    )
    inner = Slowdown(app, settings.slow) if settings.slow else app
    return ObservabilityMiddleware(inner, metrics)


def main(argv: list[str] | None = None) -> None:
    import uvicorn  # noqa: PLC0415 - only the CLI entry point needs the server

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--redis", default=os.environ.get("CASTIEL_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument("--db", type=Path, default=Path(".castiel/example.db"))
    parser.add_argument("--no-cache", action="store_true", help="switch the cache off")
    parser.add_argument(
        "--n-plus-one", action="store_true", help="read order items with one query each"
    )
    parser.add_argument(
        "--slow",
        action="append",
        default=[],
        type=parse_slow,
        metavar="ROUTE=AMOUNT",
        help="inject a regression: /orders=25%% (25%% slower) or POST /orders=20ms",
    )
    args = parser.parse_args(argv)
    args.db.parent.mkdir(parents=True, exist_ok=True)
    settings = ServiceSettings(
        args.redis, args.db, not args.no_cache, args.n_plus_one, dict(args.slow)
    )
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
