"""Runtime: queues (jobs by state over time, throughput, failures), workers, caches."""

import streamlit as st

from dashboard import charts, common, data

st.title("Runtime")
store = common.store()
run = common.pick_run(store, "runtime_run") if store is not None else None
if store is not None and run is not None:
    path = str(common.store_path())
    start, end = common.run_window(run)
    names = data.runtime_names(store, run.id)
    shown = False
    if "castiel_queue_jobs" in names:
        depth = data.gauge_timeline(
            common.series(store, path, run.id, ("castiel_queue_jobs",)), "state", start, end
        )
        st.subheader("Jobs by state")
        st.plotly_chart(charts.gauge_chart(depth, "state", "jobs"), width="stretch")
        shown = True
    if "castiel_jobs_total" in names:
        done = data.rate_timeline(
            common.series(store, path, run.id, ("castiel_jobs_total",)), "outcome", start, end
        )
        st.subheader("Jobs finished per second, by outcome")
        st.plotly_chart(charts.rate_chart(done, "outcome", "jobs/s"), width="stretch")
        shown = True
    if "castiel_workers" in names:
        workers = data.gauge_timeline(
            common.series(store, path, run.id, ("castiel_workers",)), "state", start, end
        )
        st.subheader("Workers")
        st.plotly_chart(charts.gauge_chart(workers, "state", "workers"), width="stretch")
        shown = True
    if not shown:
        st.info(
            "This run has no runtime metrics. Collect them with "
            "`castiel run ... --redis URL` (queues, workers, caches) or "
            "`--metrics URL` (a service's /metrics)."
        )
