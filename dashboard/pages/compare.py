"""Compare two runs: every budget side by side, overlaid latency distributions and time
series, and the saturation point (where throughput stops rising while latency climbs)."""

import pandas as pd
import streamlit as st

from dashboard import charts, common, data

ALL = "__all__"

st.title("Compare runs")
store = common.store()
if store is not None:
    left, right = st.columns(2)
    with left:
        a = common.pick_run(store, "cmp_a", "run A", index=1)
    with right:
        b = common.pick_run(store, "cmp_b", "run B", index=0)
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
            merged = pd.merge(
                va[["budget", "group", "status", "observed"]],
                vb[["budget", "group", "status", "observed"]],
                on=["budget", "group"],
                how="outer",
                suffixes=(" A", " B"),
            )
            merged["delta"] = (merged["observed B"] - merged["observed A"]) / merged[
                "observed A"
            ].abs()
            st.dataframe(
                merged,
                hide_index=True,
                width="stretch",
                column_config={"delta": st.column_config.NumberColumn(format="percent")},
            )
        names = (*data.LATENCY_METRICS, *data.REQUEST_METRICS)  # one read per run
        everything = {r.id: common.series(store, path, r, names) for r in (a, b)}
        sa = [s for s in everything[a.id] if s.key.name in data.LATENCY_METRICS]
        sb = [s for s in everything[b.id] if s.key.name in data.LATENCY_METRICS]
        label = "name" if any(s.key.name.startswith("locust") for s in sa + sb) else "route"
        views, p95s, rates, sats = {}, {}, {}, {}
        for tag, run, series in (("A", a, sa), ("B", b, sb)):
            start, end = common.run_window(run)
            requests = [s for s in everything[run.id] if s.key.name in data.REQUEST_METRICS]
            # One pass over the run's histograms: per-endpoint p95, the whole service's p95
            # (every endpoint merged, for the saturation point) and the distributions.
            views[tag] = data.latency_views(
                series, label, start, end, qs=(95,), with_overall=True, with_distribution=True
            )
            p95s[tag] = data.since_start(views[tag].timeline, start)
            rates[tag] = data.since_start(data.rate_timeline(requests, label, start, end), start)
            sats[tag] = data.saturation_point(
                data.rate_timeline(requests, ALL, start, end), views[tag].overall
            )
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
        st.subheader("Saturation point")
        cols = st.columns(2)
        for col, tag in zip(cols, ("A", "B"), strict=True):
            sat = sats[tag]
            col.metric(
                f"run {tag}",
                f"{sat.rps:,.0f} req/s" if sat else "not reached",
                help="where throughput stops rising while p95 keeps climbing",
            )
            if sat:
                col.caption(f"p95 climbed to {sat.p95_ms:,.0f} ms at {sat.at:%H:%M:%S} UTC")
