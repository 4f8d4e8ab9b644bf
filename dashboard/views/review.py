"""Budget review: every budget and group (endpoint, queue, ...) of a run, observed against
threshold in the budget's unit, the comparison with the baseline run (verdict, effect with
its interval, p-value) and a sparkline of the last runs; selecting a row charts what the
budget judged over the run, with its thresholds and the worst interval. At the bottom, a
budget file can be back-tested against stored runs."""

import pandas as pd
import streamlit as st

from budgets.aggregations import PERCENTILE, Aggregation
from budgets.selectors import parse_selector
from budgets.units import Unit, chart_scale
from dashboard import backtest_panel, charts, common, data, frontend, verdict_frames

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
        backtest_panel.show(common.locator())
        st.stop()
    # What needs attention first: abort, fail, warn, then pass (stable within a level).
    v = v.sort_values("level", ascending=False, kind="stable").reset_index(drop=True)
    # Sparkline: this run and the ones before it, oldest first.
    ids = list(common.runs(store, path)["run"])
    upto = ids[ids.index(run.id) :] if run.id in ids else [run.id]
    trend = common.history_frame(store, path, tuple(upto[:TREND_RUNS][::-1]))
    grid = v.merge(trend, on=["budget", "group"], how="left")
    grid["compare"] = [
        common.compare_link(b, run.id) if isinstance(b, str) else None for b in grid["baseline run"]
    ]
    st.caption("Select a row to chart its budget over this run.")
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
            "value",
            "thresholds",
            "vs baseline",
            "effect text",
            "compare",
            "trend",
            "samples",
            "message",
        ],
        column_config={
            "value": st.column_config.TextColumn("observed"),
            "vs baseline": st.column_config.TextColumn(
                help="the comparison with the baseline run: PASS, FAIL (a regression beyond "
                "the budget's max_increase) or INCONCLUSIVE (worse, within the noise)"
            ),
            "effect text": st.column_config.TextColumn(
                "effect", help="shift against the baseline with its interval and p-value"
            ),
            "compare": st.column_config.LinkColumn(
                "baseline run", display_text=r"a=([^&]+)", help="open baseline and run side by side"
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
    unit = Unit(row["unit"])
    factor, suffix = chart_scale(unit)
    limits = {("", level): value * factor for level, value in dict(row["limits"]).items()}
    worst = None
    if pd.notna(row["worst_start"]) and pd.notna(row["worst_end"]):
        worst = (
            pd.Timestamp(row["worst_start"], unit="s", tz="UTC"),
            pd.Timestamp(row["worst_end"], unit="s", tz="UTC"),
        )
    agg = str(row["aggregation"])
    who = str(row["group"]) if row["group"] != "-" else str(row["budget"])
    if row["trace"]:
        # What the evaluator judged, over the run: this aggregation, this group.
        frame = verdict_frames.trace_frame(row["trace"], who, agg, factor)
        st.plotly_chart(
            charts.latency_chart(frame, "series", agg, limits, worst, unit=suffix),
            width="stretch",
        )
    else:
        # Verdicts stored before traces were kept: chart the percentile from the series.
        selector = parse_selector(str(row["metric"]))
        name = selector.name.pattern
        parsed = Aggregation.parse(agg) if agg else None
        series = [
            s
            for s in common.series(store, path, run, (name,))
            if selector.matches(s.key)
            and all(s.key.label(k) == val for k, val in dict(row["labels"]).items())
        ]
        if parsed is not None and parsed.kind is PERCENTILE and parsed.q is not None:
            start, end = common.run_window(run)
            frame = data.percentile_timeline(series, "name", start, end, qs=(parsed.q,))
            if not frame.empty:
                frame["name"] = who
                st.plotly_chart(
                    charts.latency_chart(frame, "name", agg, limits, worst), width="stretch"
                )
        else:
            st.caption("This verdict was stored without its trace (an older Castiel).")
    if worst is not None:
        st.caption(
            f"Worst interval: {worst[0]:%H:%M:%S} to {worst[1]:%H:%M:%S} UTC (shaded on the chart)."
        )
    if str(row["metric"]).startswith("castiel_page_"):
        # Page weight, requests, CLS: the run's page loads beside the budget's own chart.
        frontend.panel(store, path, run, "review_pages")
    backtest_panel.show(common.locator())
