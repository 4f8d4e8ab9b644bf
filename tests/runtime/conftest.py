"""Fixtures shared by the runtime suites that run on both a standalone server and a cluster."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from runtime import connect
from runtime.connection import RedisConnection
from tests.runtime.cache_shells import CacheFactory


@pytest.fixture(params=["standalone", pytest.param("cluster", marks=pytest.mark.cluster)])
def any_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of the standalone server, then of the cluster (3 masters, 3 replicas)."""
    yield request.getfixturevalue("redis_url" if request.param == "standalone" else "cluster_url")


@pytest.fixture
def conn(any_url: str) -> Iterator[RedisConnection]:
    c = connect(any_url)
    yield c
    c.close()


@pytest.fixture
def url(any_url: str) -> str:
    return any_url


@pytest.fixture(params=["sync", "async"])
def make_cache(request: pytest.FixtureRequest, conn: RedisConnection) -> Iterator[CacheFactory]:
    """Builds caches of one shell (`Cache`, then `AsyncCache` driven from a loop thread) on
    `conn`: each behavioural cache test runs against both, on a server and on a cluster."""
    factory = CacheFactory(request.param, conn)
    yield factory
    factory.close()
