"""Budget review: every budget and group (endpoint, queue, ...) of a run, observed against
threshold, the change against the baseline and a sparkline of the last runs; selecting a row
opens the metric's chart for that run with the thresholds and the worst interval marked."""

import pandas as pd
import streamlit as st

from dashboard import charts, common, data, frontend

TREND_RUNS = 10

st.title("Budget review")
store = common.store()
run = common.pick_run(store, "review_run") if store is not None else None
if store is not None and run is not None:
    path = common.store_key()
    common.report_button(store, run, "review")
    v = common.verdicts(store, path, run.id)
    if v.empty:
        v = common.verdicts(store, path, run.id, "live")
        if not v.empty:
            st.caption("Not checked yet: the live monitor's latest verdicts.")
    if v.empty:
        st.info(f"Run {run.id} has no verdicts yet: `castiel check --run {run.id} --budgets FILE`.")
        st.stop()
    # What needs attention first: abort, fail, warn, then pass (stable within a status).
    severity = {badge: i for i, badge in enumerate(reversed(data.BADGES.values()))}
    v = v.sort_values("status", key=lambda c: c.map(severity), kind="stable").reset_index(drop=True)
    # Sparkline: this run and the ones before it, oldest first.
    ids = list(common.runs(store, path)["run"])
    upto = ids[ids.index(run.id) :] if run.id in ids else [run.id]
    trend = common.history_frame(store, path, tuple(upto[:TREND_RUNS][::-1]))
    grid = v.merge(trend, on=["budget", "group"], how="left")
    st.caption("Select a row to chart its metric for this run.")
    event = st.dataframe(
        grid,
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="single-row",
        key="review_grid",
        column_order=[
            "status",
            "budget",
            "group",
            "aggregation",
            "observed",
            "thresholds",
            "vs baseline",
            "trend",
            "samples",
            "message",
        ],
        column_config={
            "observed": st.column_config.NumberColumn(format="%.4g"),
            "vs baseline": st.column_config.NumberColumn(
                format="percent", help="relative change against the baseline, in the bad direction"
            ),
            "trend": st.column_config.LineChartColumn(
                f"last {TREND_RUNS} runs", help="observed value, oldest run first"
            ),
        },
    )
    with st.expander("As a matrix: endpoints and queues by budget"):
        st.dataframe(
            v.pivot_table(index="group", columns="budget", values="status", aggfunc="first"),
            width="stretch",
        )
    labels = [f"{r.budget} [{r.group}]" for r in v.itertuples()]
    linked = st.query_params.get("budget")  # ?budget=NAME from an alert notification's link
    if linked and "review_chart" not in st.session_state:
        # Its worst group first: the one the alert is most likely about.
        matches = [i for i, b in enumerate(v["budget"]) if b == linked]
        if matches:
            st.session_state["review_chart"] = matches[0]
    rows = list(getattr(getattr(event, "selection", None), "rows", []) or [])
    if rows and rows != st.session_state.get("review_applied"):
        # A newly selected row drives the chart; the select box still works after it.
        st.session_state["review_applied"] = rows
        st.session_state["review_chart"] = rows[0]
    choice = st.selectbox(
        "chart a budget", range(len(v)), format_func=lambda i: labels[i], key="review_chart"
    )
    row = v.iloc[choice]
    name = str(row["metric"]).split("{", 1)[0]
    series = common.series(store, path, run, (name,))
    start, end = common.run_window(run)
    worst = None
    if pd.notna(row["worst_start"]) and pd.notna(row["worst_end"]):
        worst = (
            pd.Timestamp(row["worst_start"], unit="s", tz="UTC"),
            pd.Timestamp(row["worst_end"], unit="s", tz="UTC"),
        )
    group = dict(part.split("=", 1) for part in str(row["group"]).split(", ") if "=" in part)
    group_label = next(iter(group), "")
    wanted = {**data.selector_labels(str(row["metric"])), **group}
    mine = [s for s in series if all(s.key.label(k) == val for k, val in wanted.items())]
    series = mine or series  # the selected endpoint/queue only, when it has its own series
    if not series:
        st.caption(f"No series of {name} in this run.")
    elif name.endswith("_seconds"):
        label = group_label or ("name" if name.startswith("locust") else "route")
        frame = data.percentile_timeline(series, label, start, end)
        agg = str(row["aggregation"])
        column = agg if agg in ("p50", "p95", "p99") else "p95"
        limits = {lvl: value * 1000 for lvl, value in dict(row["limits"]).items()}
        if not frame.empty:
            st.plotly_chart(
                charts.latency_chart(frame, label, column, limits, worst), width="stretch"
            )
    elif name.startswith("castiel_page_"):  # page weight, requests, CLS: the run's page loads
        frontend.panel(store, path, run, "review_pages")
    else:
        label = group_label or "queue"
        frame = data.rate_timeline(series, label, start, end)
        if frame.empty:
            frame = data.gauge_timeline(series, label or "state", start, end)
            st.plotly_chart(charts.gauge_chart(frame, label or "state", name), width="stretch")
        else:
            st.plotly_chart(charts.rate_chart(frame, label, f"{name} per s"), width="stretch")
    if worst is not None:
        st.caption(
            f"Worst interval: {worst[0]:%H:%M:%S} to {worst[1]:%H:%M:%S} UTC (shaded on the chart)."
        )
