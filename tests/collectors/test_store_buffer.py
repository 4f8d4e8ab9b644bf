"""A run's writes survive the store going away and coming back (a real PostgreSQL stopped and
started again), within a bound; past it the run fails loudly. Never a password in a message."""

from __future__ import annotations

import pytest

from castiel.postgres_server import PostgresServer
from collectors.model import Batch, Histogram, SeriesKey
from collectors.store import Store, StoreUnavailable, VerdictRecord
from collectors.store_buffer import RunWriter

REQS = SeriesKey.of("reqs_total", {"route": "/a"})
LAT = SeriesKey.of("latency_seconds", {"route": "/a"})


def batch_at(t: float) -> Batch:
    b = Batch()
    b.add_increment(REQS, t, t)  # the value says which batch it was
    b.add_histogram(LAT, t - 1, t, Histogram.of([0.1 * t]))
    return b


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def pg(fresh_postgres: PostgresServer) -> str:
    url = fresh_postgres.url()
    Store.migrate(url)
    return url


def test_batches_wait_for_a_restarted_server_and_are_written_in_order(
    fresh_postgres: PostgresServer, pg: str
) -> None:
    clock = Clock()
    with Store.open(pg) as store:
        run = store.create_run(started_at=0.0)
        writer = RunWriter(store, run.id, max_outage=60.0, clock=clock)
        writer.write(batch_at(1.0))
        fresh_postgres.stop()
        for t in (2.0, 3.0, 4.0):
            clock.now = t
            writer.write(batch_at(t))
        writer.set_phase("spawning_complete", 2.5)
        writer.record_live_verdicts([VerdictRecord("b", {}, "warn")])
        assert writer.backlog == 4  # three batches and a phase; live verdicts: the newest only
        assert writer.last_error is not None
        assert f"127.0.0.1:{fresh_postgres.port}" in writer.last_error
        assert fresh_postgres.password not in writer.last_error
        fresh_postgres.start()
        clock.now = 30.0
        writer.write(batch_at(5.0))
        assert (writer.backlog, writer.last_error, writer.outage_since) == (0, None, None)
        writer.finish(40.0, "finished")
        writer.drain()
        [reqs] = store.load_series(run.id, [REQS])
        assert [p.value for p in reqs.points] == [1.0, 2.0, 3.0, 4.0, 5.0]
        [lat] = store.load_series(run.id, [LAT])
        assert [h.end for h in lat.histograms] == [1.0, 2.0, 3.0, 4.0, 5.0]
        info = store.get_run(run.id)
        assert (info.status, info.ended_at, info.phases) == (
            "finished",
            40.0,
            {"spawning_complete": 2.5},
        )
        assert [v.status for v in store.verdicts(run.id, "live")] == ["warn"]


def test_an_outage_longer_than_the_bound_fails_loudly(
    fresh_postgres: PostgresServer, pg: str
) -> None:
    clock = Clock()
    with Store.open(pg) as store:
        run = store.create_run(started_at=0.0)
        writer = RunWriter(store, run.id, max_outage=10.0, clock=clock)
        fresh_postgres.stop()
        writer.write(batch_at(1.0))
        clock.now = 5.0
        writer.write(batch_at(2.0))  # still within the bound
        clock.now = 11.0
        with pytest.raises(StoreUnavailable) as caught:
            writer.write(batch_at(3.0))
        message = str(caught.value)
        assert "gave up after 11s, with 3 batch(es)" in message
        assert f"127.0.0.1:{fresh_postgres.port}" in message and "\n" not in message
        assert fresh_postgres.password not in message


def test_holds_tells_whether_a_batch_is_stored(store_location: str) -> None:
    with Store.open(store_location) as store:
        run = store.create_run(started_at=0.0)
        store.write(run.id, batch_at(1.0))
        assert store.holds(run.id, batch_at(1.0))
        assert not store.holds(run.id, batch_at(2.0))
        other = Batch()
        other.add_gauge(SeriesKey.of("never_seen", {}), 1.0, 1.0)
        assert not store.holds(run.id, other)
