"""Budget review: every budget and group of a run, observed against threshold, the change
against the baseline, and the metric's chart with the thresholds and the worst interval."""

import re
from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard import charts, common, data

st.title("Budget review")
store = common.store()
run = common.pick_run(store, "review_run") if store is not None else None
if store is not None and run is not None:
    path = str(common.store_path())
    v = common.verdicts(store, path, run.id)
    if v.empty:
        st.info(f"Run {run.id} has no verdicts yet: `castiel check --run {run.id} --budgets FILE`.")
    else:
        st.dataframe(
            v.drop(columns=["metric", "worst_start", "worst_end"]),
            hide_index=True,
            width="stretch",
            column_config={
                "observed": st.column_config.NumberColumn(format="%.4g"),
                "vs baseline": st.column_config.NumberColumn(
                    format="percent", help="relative change in the bad direction"
                ),
            },
        )
        labels = [f"{r.budget} [{r.group}]" for r in v.itertuples()]
        choice = st.selectbox("chart a budget", range(len(v)), format_func=lambda i: labels[i])
        row = v.iloc[choice]
        name = str(row["metric"]).split("{", 1)[0]
        series = common.series(store, path, run.id, (name,))
        start, end = common.run_window(run)
        if (series and name in data.LATENCY_METRICS) or name.endswith("_seconds"):
            label = "name" if name.startswith("locust") else "route"
            frame = data.percentile_timeline(series, label, start, end)
            agg = str(row["aggregation"])
            column = agg if agg in ("p50", "p95", "p99") else "p95"
            limits = {
                lvl: float(m.group(1)) * 1000
                for lvl, cond in (
                    part.split(" ", 1) for part in str(row["thresholds"]).split("; ") if part
                )
                if (m := re.search(r"([0-9.]+(?:e-?\d+)?)", cond))
            }
            worst = None
            if pd.notna(row["worst_start"]) and pd.notna(row["worst_end"]):
                worst = (
                    pd.Timestamp(row["worst_start"], unit="s", tz="UTC"),
                    pd.Timestamp(row["worst_end"], unit="s", tz="UTC"),
                )
            if not frame.empty:
                st.plotly_chart(
                    charts.latency_chart(frame, label, column, limits, worst), width="stretch"
                )
        elif series:
            frame = data.rate_timeline(series, "queue", start, end)
            if frame.empty:
                frame = data.gauge_timeline(series, "state", start, end)
                st.plotly_chart(charts.gauge_chart(frame, "state", name), width="stretch")
            else:
                st.plotly_chart(charts.rate_chart(frame, "queue", f"{name} per s"), width="stretch")
        else:
            st.caption(f"No series of {name} in this run.")
    report = Path(".castiel/runs") / run.id / "report.html"
    if report.exists():
        st.download_button(
            "Download the HTML report",
            report.read_bytes(),
            file_name=f"castiel-{run.id}.html",
            mime="text/html",
        )
