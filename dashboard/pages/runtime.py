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
    # (metric, label to split by, title, how to draw it)
    panels = (
        ("castiel_queue_jobs", "state", "Jobs by state", "gauge"),
        ("castiel_jobs_total", "outcome", "Jobs finished per second, by outcome", "rate"),
        ("castiel_workers", "state", "Workers", "gauge"),
        ("castiel_cache_hits_total", "layer", "Cache hits per second, by layer", "rate"),
    )
    shown = [p for p in panels if p[0] in names]
    for metric, label, title, kind in shown:
        series = common.series(store, path, run.id, (metric,))
        st.subheader(title)
        if kind == "gauge":
            frame = data.gauge_timeline(series, label, start, end)
            st.plotly_chart(charts.gauge_chart(frame, label, title), width="stretch")
        else:
            frame = data.rate_timeline(series, label, start, end)
            st.plotly_chart(charts.rate_chart(frame, label, "per s"), width="stretch")
    if not shown:
        st.info(
            "This run has no runtime metrics. Collect them with "
            "`castiel run ... --redis URL` (queues, workers, caches) or "
            "`--metrics URL` (a service's /metrics)."
        )
