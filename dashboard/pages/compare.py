"""Compare two runs: every budget side by side, overlaid latency distributions and time
series, and the saturation point (where throughput stops rising while latency climbs)."""

import pandas as pd
import streamlit as st

from dashboard import charts, common, data

st.title("Compare runs")
store = common.store()
if store is not None:
    left, right = st.columns(2)
    with left:
        a = common.pick_run(store, "cmp_a", "run A", index=1)
    with right:
        b = common.pick_run(store, "cmp_b", "run B", index=0)
    if a is not None and b is not None:
        path = str(common.store_path())
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
        names = data.LATENCY_METRICS
        sa = common.series(store, path, a.id, names)
        sb = common.series(store, path, b.id, names)
        label = "name" if any(s.key.name.startswith("locust") for s in sa + sb) else "route"
        st.subheader("Latency distribution")
        st.plotly_chart(
            charts.cdf_chart(
                {"A": data.distribution(sa, label), "B": data.distribution(sb, label)}, label
            ),
            width="stretch",
        )
        for tag, run, series in (("A", a, sa), ("B", b, sb)):
            start, end = common.run_window(run)
            p95 = data.percentile_timeline(series, label, start, end, qs=(95,))
            rps = data.rate_timeline(
                common.series(store, path, run.id, data.REQUEST_METRICS), label, start, end
            )
            st.subheader(f"Run {tag}: p95 over time")
            if not p95.empty:
                st.plotly_chart(charts.latency_chart(p95, label, "p95"), width="stretch")
            sat = data.saturation_point(rps, p95)
            st.caption(
                "Saturation: "
                + (
                    f"throughput stopped rising at {sat.rps:,.0f} req/s "
                    f"while p95 climbed to {sat.p95_ms:,.0f} ms "
                    f"({sat.at:%H:%M:%S} UTC)"
                    if sat
                    else "not reached in this run"
                )
            )
