"""Made `store-0.1.0.db` with the store code of foundation 773baee (PRAGMA user_version 3, before
the SQLAlchemy layer): `python tests/collectors/data/make_legacy_store.py OUT.db`. Kept to show
how the file was made; tests/collectors/test_store_upgrade.py opens the committed file."""

import sys
from pathlib import Path

from alerts.db import AlertsDB
from collectors.model import Batch, Histogram, SeriesKey
from collectors.store import RetentionPolicy, Store, VerdictRecord

path = Path(sys.argv[1])
LAT = SeriesKey.of("castiel_http_request_duration_seconds", {"route": "/a"})
REQS = SeriesKey.of("castiel_http_requests_total", {"route": "/a"})
with Store.open(path) as s:
    a = s.create_run(
        started_at=1000.0,
        scenario="peak",
        git_commit="c1",
        git_branch="main",
        config_hash="h1",
        environment={"host": "ci"},
        run_id="20240101T000000Z-aaaaaa",
    )
    for t in range(1001, 1011):
        b = Batch()
        b.add_histogram(LAT, t - 1, t, Histogram.of([0.05, 0.1, 0.2 + t % 3 / 10]))
        b.add_increment(REQS, float(t), 3)
        s.write(a.id, b)
    s.set_phase(a.id, "spawning_complete", 1003.0)
    s.finish_run(a.id, 1010.0)
    s.set_run_verdict(a.id, "pass")
    s.record_verdicts(
        a.id, [VerdictRecord("lat", {"route": "/a"}, "pass", {"observed": 0.25}, 1011.0)]
    )
    s.set_baseline("golden", a.id, now=1012.0)
    s.set_retention(RetentionPolicy(max_age_seconds=7 * 86400.0, max_runs=50))
AlertsDB.open(path).close()
