"""Compare two runs: every budget side by side, overlaid latency distributions and time
series, and each run's saturation knee (budgets/knee.py: the offered load at which throughput
stopped following a stepped or ramped load while latency rose; none for a constant load)."""

import pandas as pd
import streamlit as st

from budgets.knee import KneeMetrics, Saturation, analyse
from dashboard import charts, common, data

KNEE = KneeMetrics()


def show_knee(column: st.delta_generator.DeltaGenerator, tag: str, sat: Saturation | None) -> None:
    knee = sat.knee if sat else None
    column.metric(
        f"run {tag}",
        f"{knee.offered:g} {sat.unit}" if sat and knee else "no knee",
        help="the offered load at which throughput stopped following while p95 rose; "
        "a constant load, or one every step of which kept up, has none",
    )
    if sat is None:
        column.caption("constant load: no steps to compare")
        return
    column.caption(sat.describe())
    column.dataframe(
        pd.DataFrame(
            {
                "offered": [s.offered for s in sat.steps],
                "req/s": [s.throughput for s in sat.steps],
                "follows": [s.follow for s in sat.steps],
                "p95 ms": [None if s.p95 is None else s.p95 * 1000 for s in sat.steps],
            }
        ),
        hide_index=True,
        column_config={"follows": st.column_config.NumberColumn(format="percent")},
    )


st.title("Compare runs")
store = common.store()
if store is not None:
    left, right = st.columns(2)
    with left:
        a = common.pick_run(store, "cmp_a", "run A", index=1, param="a")
    with right:
        b = common.pick_run(store, "cmp_b", "run B", index=0, param="b")
    if a is not None and b is not None:
        path = common.store_key()
        with left:
            common.report_button(store, a, "cmp_a")
        with right:
            common.report_button(store, b, "cmp_b")
        if a.id == b.id:
            st.info(
                "Pick two different runs (only one exists? make another one: "
                f"`{common.FIRST_RUN}`)."
            )
        va, vb = common.verdicts(store, path, a.id), common.verdicts(store, path, b.id)
        if not va.empty and not vb.empty:
            columns = ["budget", "group", "status", "observed", "value"]
            merged = pd.merge(
                va[columns], vb[columns], on=["budget", "group"], how="outer", suffixes=(" A", " B")
            )
            merged["delta"] = (merged["observed B"] - merged["observed A"]) / merged[
                "observed A"
            ].abs()
            st.dataframe(
                merged,
                hide_index=True,
                width="stretch",
                column_order=[
                    "budget",
                    "group",
                    "status A",
                    "value A",
                    "status B",
                    "value B",
                    "delta",
                ],
                column_config={
                    "value A": st.column_config.TextColumn("observed A"),
                    "value B": st.column_config.TextColumn("observed B"),
                    "delta": st.column_config.NumberColumn(format="percent"),
                },
            )
        # One read per run: the charts' metrics and the load the knee is measured against.
        names = (*data.LATENCY_METRICS, *data.REQUEST_METRICS, KNEE.users, KNEE.target_rate)
        everything = {r.id: common.series(store, path, r, names) for r in (a, b)}
        sa = [s for s in everything[a.id] if s.key.name in data.LATENCY_METRICS]
        sb = [s for s in everything[b.id] if s.key.name in data.LATENCY_METRICS]
        label = "name" if any(s.key.name.startswith("locust") for s in sa + sb) else "route"
        views, p95s, rates, knees = {}, {}, {}, {}
        for tag, run, series in (("A", a, sa), ("B", b, sb)):
            start, end = common.run_window(run)
            requests = [s for s in everything[run.id] if s.key.name in data.REQUEST_METRICS]
            # One pass over the run's histograms: per-endpoint p95 and the distributions.
            views[tag] = data.latency_views(
                series, label, start, end, qs=(95,), with_distribution=True
            )
            p95s[tag] = data.since_start(views[tag].timeline, start)
            rates[tag] = data.since_start(data.rate_timeline(requests, label, start, end), start)
            knees[tag] = analyse(everything[run.id], KNEE)
        st.subheader("Latency distribution")
        st.plotly_chart(
            charts.cdf_chart({tag: v.distribution for tag, v in views.items()}, label),
            width="stretch",
            key="cmp_cdf",
        )
        st.subheader("p95 over time (A solid, B dashed)")
        st.plotly_chart(
            charts.overlay_chart(p95s, label, "p95", "p95 (ms)"), width="stretch", key="cmp_p95"
        )
        st.subheader("Throughput over time")
        st.plotly_chart(
            charts.overlay_chart(rates, label, "per_s", "requests/s"),
            width="stretch",
            key="cmp_rps",
        )
        st.subheader("Saturation knee")
        for col, tag in zip(st.columns(2), ("A", "B"), strict=True):
            show_knee(col, tag, knees[tag])
