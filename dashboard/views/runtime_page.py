"""Runtime: queues (jobs by state, throughput, failures, time in queue), workers (heartbeat
health, jobs in flight) and caches (hit ratio by layer) for one run."""

import pandas as pd
import streamlit as st

from collectors.model import SeriesData
from dashboard import charts, common, data

QUEUE = (
    "castiel_queue_jobs",
    "castiel_queue_completed_total",
    "castiel_queue_failed_total",
    "castiel_jobs_total",
    "castiel_job_wait_seconds",
)
WORKERS = ("castiel_workers", "castiel_worker_in_flight")
CACHE = ("castiel_cache_hits_total", "castiel_cache_misses_total")

st.title("Runtime")
store = common.store()
run = common.pick_run(store, "runtime_run") if store is not None else None
if store is not None and run is not None:
    path = common.store_key()
    common.report_button(store, run, "runtime")
    start, end = common.run_window(run)
    names = common.series_names(store, path, run.id)
    if not names & {*QUEUE, *WORKERS, *CACHE}:
        st.info(
            "This run has no runtime metrics. Collect them with "
            "`castiel run ... --redis URL` (queues, workers, caches) or "
            "`--metrics URL` (a service's /metrics)."
        )
        st.stop()

    st.header("Queues")
    loaded = common.series(store, path, run, (*QUEUE, *WORKERS, *CACHE))  # one read
    q = [s for s in loaded if s.key.name in QUEUE]
    by = {n: [s for s in q if s.key.name == n] for n in QUEUE}
    queues = sorted({s.key.label("queue") or "" for s in q} - {""})
    chosen = st.multiselect("queues", queues, default=queues, key="runtime_queues")

    def mine(name: str) -> list[SeriesData]:
        return [s for s in by[name] if (s.key.label("queue") or "") in chosen]

    left, right = st.columns(2)
    states = data.gauge_timeline(mine("castiel_queue_jobs"), "state", start, end)
    if not states.empty:
        left.plotly_chart(
            charts.gauge_chart(states, "state", "jobs by state"), width="stretch", key="rt_states"
        )
    done = data.rate_timeline(mine("castiel_queue_completed_total"), "queue", start, end)
    failed = data.rate_timeline(mine("castiel_queue_failed_total"), "queue", start, end)
    if not done.empty or not failed.empty:
        flow = pd.concat(
            [
                done.assign(queue=done["queue"] + " completed"),
                failed.assign(queue=failed["queue"] + " failed"),
            ]
        )
        right.plotly_chart(
            charts.rate_chart(flow, "queue", "jobs/s"), width="stretch", key="rt_flow"
        )
    outcomes = data.rate_timeline(mine("castiel_jobs_total"), "outcome", start, end)
    wait = data.percentile_timeline(mine("castiel_job_wait_seconds"), "queue", start, end)
    left, right = st.columns(2)
    if not outcomes.empty:
        left.plotly_chart(
            charts.rate_chart(outcomes, "outcome", "jobs/s by outcome"),
            width="stretch",
            key="rt_outcomes",
        )
    if not wait.empty:
        right.plotly_chart(
            charts.latency_chart(wait, "queue", "p95").update_layout(
                yaxis_title="time in queue p95 (ms)"
            ),
            width="stretch",
            key="rt_wait",
        )

    st.header("Workers")
    w = [s for s in loaded if s.key.name in WORKERS]
    health = data.gauge_timeline(
        [s for s in w if s.key.name == "castiel_workers"], "state", start, end
    )
    if health.empty:
        st.caption("No worker heartbeats in this run.")
    else:
        now = data.last_values([s for s in w if s.key.name == "castiel_workers"], "state")
        c1, c2 = st.columns(2)
        c1.metric("healthy (heartbeat fresh)", int(now.get("healthy", 0)))
        c2.metric("unhealthy (heartbeat expired)", int(now.get("unhealthy", 0)))
        st.plotly_chart(
            charts.gauge_chart(health, "state", "workers"), width="stretch", key="rt_workers"
        )
    in_flight = [s for s in w if s.key.name == "castiel_worker_in_flight"]
    if in_flight:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "worker": s.key.label("worker"),
                        "queue": s.key.label("queue"),
                        "in flight": s.points[-1].value if s.points else None,
                        "last heartbeat": pd.Timestamp(s.points[-1].timestamp, unit="s", tz="UTC")
                        if s.points
                        else None,
                        "trend": [p.value for p in s.points[-60:]],
                    }
                    for s in in_flight
                ]
            ),
            hide_index=True,
            width="stretch",
            column_config={
                "last heartbeat": st.column_config.DatetimeColumn(format="HH:mm:ss"),
                "trend": st.column_config.LineChartColumn("in flight, last minute"),
            },
        )

    st.header("Caches")
    c = [s for s in loaded if s.key.name in CACHE]
    hits = [s for s in c if s.key.name == "castiel_cache_hits_total"]
    misses = [s for s in c if s.key.name == "castiel_cache_misses_total"]
    ratio = data.ratio_timeline(hits, misses, "layer", start, end)
    if ratio.empty:
        st.caption("No cache lookups in this run.")
    else:
        totals = data.cache_totals(hits, misses)
        st.dataframe(
            totals,
            hide_index=True,
            width="stretch",
            column_config={
                "hit ratio": st.column_config.ProgressColumn(
                    format="percent", min_value=0.0, max_value=1.0
                )
            },
        )
        st.plotly_chart(
            charts.gauge_chart(ratio, "layer", "hit ratio").update_yaxes(
                tickformat=".0%", range=[0, 1]
            ),
            width="stretch",
            key="rt_cache",
        )
