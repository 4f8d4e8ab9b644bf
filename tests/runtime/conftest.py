"""Fixtures shared by the runtime suites that run on both a standalone server and a cluster."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from runtime import connect
from runtime.connection import RedisConnection


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
