"""Plotly figures for the dashboard: pure functions of DataFrames, one colour per endpoint
everywhere, budget thresholds drawn as lines."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

PALETTE = px.colors.qualitative.Safe + px.colors.qualitative.Vivid
SEVERE = ("fail", "abort")
"""Levels drawn red; warn is amber."""


def colours(names: Iterable[str]) -> dict[str, str]:
    """The same endpoint gets the same colour on every chart (sorted order)."""
    return {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(sorted(set(names)))}


def latency_chart(
    df: pd.DataFrame,
    label: str,
    column: str = "p95",
    thresholds: Mapping[tuple[str, str], float] | None = None,
    worst: tuple[pd.Timestamp, pd.Timestamp] | None = None,
    unit: str = "ms",
) -> go.Figure:
    """`column` of `df` over time, one line per `label` value, in `unit` (the axis's: the
    caller scales values and thresholds alike, budgets.units.chart_scale). `thresholds`:
    {(budget or "", level): value}."""
    fig = _by_label(df, label, column, f"{column} ({unit})" if unit else column)
    for (budget, level), value in (thresholds or {}).items():
        fig.add_hline(
            y=value,
            line_dash="dash",
            annotation_text=f"{budget} {level} {value:g} {unit}".strip(),
            line_color="#d1242f" if level in SEVERE else "#bf8700",
        )
    if worst is not None:
        fig.add_vrect(
            x0=worst[0],
            x1=worst[1],
            fillcolor="#d1242f",
            opacity=0.12,
            line_width=0,
            annotation_text="worst interval",
        )
    fig.update_layout(height=360, margin={"l": 10, "r": 10, "t": 30, "b": 10}, legend_title_text="")
    return fig


def _by_label(df: pd.DataFrame, label: str, y: str, title: str) -> go.Figure:
    """`y` over `t`, one line per `label` value in the order they first appear. Built from
    graph objects: plotly express draws the same lines at four times the cost (its figure
    factory, templates and argument checks), and a live page draws nine of them per tick."""
    fig = go.Figure()
    cmap = colours(df[label])
    for name, part in df.groupby(label, sort=False):
        fig.add_trace(
            go.Scatter(
                x=part["t"],
                y=part[y],
                mode="lines",
                name=str(name),
                legendgroup=str(name),
                line={"color": cmap[name]},
            )
        )
    fig.update_layout(xaxis_title="", yaxis_title=title)
    return fig


def _lines(df: pd.DataFrame, label: str, y: str, title: str) -> go.Figure:
    fig = _by_label(df, label, y, title)
    # Legend below: these charts often sit two abreast, where a side legend eats the plot.
    fig.update_layout(
        height=320,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        legend={"title_text": "", "orientation": "h", "yanchor": "top", "y": -0.15},
    )
    return fig


def rate_chart(df: pd.DataFrame, label: str, title: str = "requests/s") -> go.Figure:
    return _lines(df, label, "per_s", title)


def gauge_chart(df: pd.DataFrame, label: str, title: str) -> go.Figure:
    return _lines(df, label, "value", title)


def cdf_chart(frames: Mapping[str, pd.DataFrame], label: str) -> go.Figure:
    """Overlaid latency distributions of several runs (solid, dashed, ...)."""
    fig = _overlaid(frames, label, "ms", "fraction")
    fig.update_layout(
        height=380,
        xaxis_title="latency (ms)",
        yaxis_title="fraction of requests",
        xaxis_type="log",
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
    )
    return fig


def verdict_history_chart(df: pd.DataFrame) -> go.Figure:
    fig = px.bar(
        df,
        x="run",
        y="budgets",
        color="status",
        color_discrete_map={
            "pass": "#1a7f37",
            "warn": "#bf8700",
            "fail": "#d1242f",
            "abort": "#8250df",
        },
    )
    fig.update_layout(
        height=300,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        xaxis_title="",
        yaxis_title="budgets",
    )
    fig.update_xaxes(type="category")  # run ids like "357e50" are not numbers
    return fig


STATE_COLOURS = {
    "🟡 pending": "#bf8700",
    "🔴 firing": "#d1242f",
    "⚪ no data": "#8c959f",
}


def alert_timeline_chart(bars: pd.DataFrame) -> go.Figure:
    """One row per alert, a bar for every stretch it was pending, firing or without data."""
    fig = px.timeline(
        bars,
        x_start="start",
        x_end="end",
        y="alert",
        color="state",
        color_discrete_map=STATE_COLOURS,
    )
    fig.update_yaxes(autorange="reversed", title="")
    fig.update_layout(
        height=max(220, 60 + 32 * bars["alert"].nunique()),
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        legend_title_text="",
    )
    return fig


def overlay_chart(frames: Mapping[str, pd.DataFrame], label: str, y: str, title: str) -> go.Figure:
    """Several runs' series on one time axis (seconds since each run started): run A solid,
    run B dashed, one colour per endpoint. Frames need columns `s`, `label`, `y`."""
    fig = _overlaid(frames, label, "s", y)
    fig.update_layout(
        height=360,
        xaxis_title="seconds since start",
        yaxis_title=title,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
    )
    return fig


def _overlaid(frames: Mapping[str, pd.DataFrame], label: str, x: str, y: str) -> go.Figure:
    """One line per (run, `label` value): runs told apart by dash, labels by colour, so the
    same endpoint has the same colour in every run."""
    fig = go.Figure()
    names = {n for df in frames.values() if not df.empty for n in df[label]}
    cmap = colours(names)
    for dash, (run, df) in zip(("solid", "dash", "dot"), frames.items(), strict=False):
        for name, part in df.groupby(label) if not df.empty else ():
            fig.add_trace(
                go.Scatter(
                    x=part[x],
                    y=part[y],
                    mode="lines",
                    name=f"{name} · {run}",
                    line={"color": cmap[name], "dash": dash},
                )
            )
    return fig


STATUS_COLOURS = {
    "pass": "#1a7f37",
    "warn": "#bf8700",
    "fail": "#d1242f",
    "abort": "#8250df",
}


def history_chart(
    df: pd.DataFrame,
    unit: str,
    thresholds: Mapping[str, float],
    changes: pd.DataFrame,
    title: str,
) -> go.Figure:
    """A budget across runs: `df` has t (run start), value (in `unit`), status, run, commit,
    branch; one marker per run coloured by its verdict, the thresholds as lines, and each
    change point (`changes`: t, text) as a vertical line labelled with its commit and shift."""
    fig = go.Figure(
        go.Scatter(
            x=df["t"],
            y=df["value"],
            mode="lines+markers",
            name=title,
            line={"color": "#57606a", "width": 1},
            marker={
                "size": 9,
                "color": [STATUS_COLOURS.get(s, "#8c959f") for s in df["status"]],
            },
            customdata=df[["run", "commit", "branch", "status"]].to_numpy(),
            hovertemplate="%{y:.4g} " + unit + "<br>run %{customdata[0]}<br>commit "
            "%{customdata[1]} on %{customdata[2]}<br>%{customdata[3]}<extra></extra>",
        )
    )
    for level, value in thresholds.items():
        fig.add_hline(
            y=value,
            line_dash="dash",
            annotation_text=f"{level} {value:g} {unit}".rstrip(),
            line_color="#d1242f" if level in SEVERE else "#bf8700",
        )
    for row in changes.itertuples():
        fig.add_vline(x=row.t, line_dash="dot", line_color="#0969da")
        fig.add_annotation(
            x=row.t, y=1.0, yref="paper", text=str(row.text), showarrow=False, yanchor="bottom"
        )
    fig.update_layout(
        height=340,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        yaxis_title=f"{title} ({unit})" if unit else title,
        showlegend=False,
    )
    return fig
