"""The frontend panel (Live run page): page loads of the run (`castiel run --browse URL` or
`castiel browse`), per page and cache state, next to the API's latency: p75 Web Vitals over
time and a table of the run's figures (p75 timings, median page weight and requests)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pandas as pd
import streamlit as st

from collectors.browser import series as page
from collectors.model import RunInfo, SeriesData, SeriesKey, merge_histograms
from collectors.store import Store
from dashboard import charts, common, data

NAMES = (
    page.LCP,
    page.FCP,
    page.TTFB,
    page.TBT,
    page.CLS,
    page.TRANSFER_BYTES,
    page.REQUESTS,
    page.CACHED_REQUESTS,
)
CHARTED = {"LCP": page.LCP, "FCP": page.FCP, "TTFB": page.TTFB, "TBT": page.TBT}
VIEW = "page · cache"


def views(series: Sequence[SeriesData], name: str) -> list[SeriesData]:
    """The series of `name`, relabelled with one `page · cache` label (a chart line each)."""
    return [
        dataclasses.replace(
            s, key=SeriesKey.of(name, {VIEW: f"{s.key.label('page')} · {s.key.label('cache')}"})
        )
        for s in series
        if s.key.name == name
    ]


def _p(series: Sequence[SeriesData], q: float) -> float | None:
    merged = merge_histograms(h.histogram for s in series for h in s.histograms)
    return merged.percentile(q)


def summary(series: Sequence[SeriesData]) -> pd.DataFrame:
    """One row per page and cache state: p75 timings (ms; CLS as a score), median transfer
    (KiB) and requests of the whole page (type="total"), the number of loads."""
    groups: dict[tuple[str, str], list[SeriesData]] = {}
    for s in series:
        sized = s.key.name in (page.TRANSFER_BYTES, page.REQUESTS, page.CACHED_REQUESTS)
        if sized and s.key.label("type") != "total":
            continue
        groups.setdefault((s.key.label("page"), s.key.label("cache")), []).append(s)
    rows = []
    for (pg, cache), group in sorted(groups.items()):

        def of(name: str, g: list[SeriesData] = group) -> list[SeriesData]:
            return [s for s in g if s.key.name == name]

        row: dict[str, object] = {"page": pg, "cache": cache}
        row["loads"] = sum(h.histogram.count for s in of(page.LCP) for h in s.histograms)
        for label, name in CHARTED.items():
            value = _p(of(name), 75)
            row[f"{label} p75 (ms)"] = None if value is None else value * 1000
        row["CLS p75"] = _p(of(page.CLS), 75)
        transfer = _p(of(page.TRANSFER_BYTES), 50)
        row["transfer (KiB)"] = None if transfer is None else transfer / 1024
        row["requests"] = _p(of(page.REQUESTS), 50)
        row["from cache"] = _p(of(page.CACHED_REQUESTS), 50)
        rows.append(row)
    return pd.DataFrame(rows)


def panel(store: Store, path: str, run: RunInfo, key: str) -> None:
    series = common.series(store, path, run, NAMES)
    if not series:
        st.caption(
            "No page loads in this run: add `--browse URL` to `castiel run`, or measure with "
            "`castiel browse --url URL` (docs/frontend.md)."
        )
        return
    start, end = common.run_window(run)
    tabs = st.tabs([f"{label} p75" for label in CHARTED])
    for tab, (label, name) in zip(tabs, CHARTED.items(), strict=True):
        with tab:
            frame = data.percentile_timeline(views(series, name), VIEW, start, end, (75,))
            if frame.empty:
                st.caption(f"No {label} measured yet.")
                continue
            st.plotly_chart(
                charts.latency_chart(frame, VIEW, "p75"), width="stretch", key=f"{key}_{label}"
            )
    st.dataframe(
        summary(series),
        hide_index=True,
        width="stretch",
        column_config={c: st.column_config.NumberColumn(format="%.4g") for c in _NUMERIC},
    )


_NUMERIC = (
    *(f"{label} p75 (ms)" for label in CHARTED),
    "CLS p75",
    "transfer (KiB)",
    "requests",
    "from cache",
)
