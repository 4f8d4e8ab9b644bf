"""Made `store-0003-alerts.db` with the code of main 946f6a4 (store schema 0003, alert tables
created by alerts/db.py with `CREATE TABLE IF NOT EXISTS`, before revision 0004 took them into
the store's schema): `git archive 946f6a4 | tar -x -C OLD && cd OLD && PYTHONPATH=. python
tests/alerts/data/make_store_0003.py OUT.db`. Kept to show how the file was made;
tests/alerts/test_store_upgrade.py opens the committed file."""

import sys
from dataclasses import replace
from pathlib import Path

from alerts import history, snapshot
from alerts.db import AlertsDB
from alerts.delivery import DELIVERED, Attempt, Decision, Outbox
from alerts.pipeline import EngineState
from alerts.silences import SqliteSilenceStore, new_silence
from collectors.store import Store
from tests.alerts.helpers import T0, notification

path = Path(sys.argv[1])
with Store.open(path) as s:
    run = s.create_run(started_at=T0, scenario="monitor", run_id="20260921T141320Z-aaaaaa")
with AlertsDB.open(path) as db:
    SqliteSilenceStore(db).add(
        replace(
            new_silence(
                ['budget="api-latency"'],
                starts_at=T0,
                ends_at=T0 + 3600,
                now=T0,
                created_by="ana",
                comment="deploying",
            ),
            id="s1lence00001",
        )
    )
    outbox = Outbox(db)
    sent = outbox.enqueue(notification(receiver="hook"), T0)
    [item] = outbox.claim_due(T0, 30)
    outbox.record(
        item,
        Attempt(
            sent,
            T0 + 1,
            "hook",
            "webhook",
            DELIVERED,
            200,
            "http 200",
            0.01,
            item.notification.group_key,
        ),
        Decision(DELIVERED),
    )
    outbox.enqueue(notification(receiver="hook", firing=2), T0 + 60)  # still waiting
    history.record(
        db,
        [
            history.AlertEvent(
                at=T0,
                dedup_key="castiel-old1",
                name="api-latency",
                severity="critical",
                labels={"alertname": "api-latency"},
                group={"route": "/a"},
                state="firing",
                value=0.42,
                threshold="< 0.3",
                run_id=run.id,
                summary="api-latency: firing",
                level="fail",
                scope="prod",
            )
        ],
    )
    with db.write() as c:
        snapshot.save(c, "prod", snapshot.dumps(EngineState()), T0, run_scoped=False)
