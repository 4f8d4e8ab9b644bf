"""Alerts: what is firing now, a timeline of every alert's states, the delivery log with its
failures, and silences (create, expire). The alerts themselves come from `castiel run` /
`castiel monitor`; this page only reads them (and writes silences, which those read). The
store may be SQLite or PostgreSQL; silences are written through a connection of their own,
since the page's store is opened read-only."""

import time

import pandas as pd
import streamlit as st

from alerts import silences
from alerts.db import AlertsDBError
from dashboard import alerting, charts, common
from runtime.durations import parse_duration

WINDOWS = {"last hour": 3600.0, "last 24 hours": 86400.0, "last 7 days": 7 * 86400.0, "all": None}

st.title("Alerts")
store_at = common.locator()
if not store_at.exists():
    st.info(
        f"No metrics store at `{store_at}` yet. Alerts come from `castiel run` and "
        f"`castiel monitor`; make a first run:\n\n`{common.FIRST_RUN}`"
    )
    st.stop()
store = common.store()  # SQLite or PostgreSQL: the alert tables live in either
if store is None:
    st.stop()
assert store is not None
where = common.store_key()

st.subheader("Firing now")
common.show_firing(store, where)

st.subheader("Timeline")
window = st.radio("show", list(WINDOWS), index=1, horizontal=True, key="alerts_window")
span = WINDOWS[window]
# Rounded to the minute, so the cached query is shared by tabs and reruns within its TTL.
since = None if span is None else (time.time() - span) // 60 * 60
events = common.alert_events(store, where, since)
if events.empty:
    st.info(
        "No alert changed state in this period. `castiel run` and `castiel monitor` raise "
        "them when a budget is breached (routing: `castiel.yaml`, see docs/alerts.md); "
        "`castiel alerts test RECEIVER --config castiel.yaml` sends a test notification."
    )
else:
    bars = alerting.timeline_frame(events, pd.Timestamp.now(tz="UTC"))
    if not bars.empty:
        st.plotly_chart(charts.alert_timeline_chart(bars), width="stretch")
    st.dataframe(
        events.drop(columns=["key"]),
        hide_index=True,
        width="stretch",
        column_config={
            "since": st.column_config.DatetimeColumn("at", format="YYYY-MM-DD HH:mm:ss"),
            "value": st.column_config.NumberColumn(format="%.4g"),
        },
    )

st.subheader("Delivery log")
failures_only = st.toggle("failures only", key="alerts_failures_only")
log = common.attempts(store, where, failures_only)
if log.empty:
    st.caption(
        "No delivery attempts yet. Notifications go to the receivers of your alerts "
        "config; `castiel alerts test RECEIVER --config castiel.yaml` tries one."
    )
else:
    failed = int((log["outcome"] != alerting.OUTCOME_ICONS["delivered"]).sum())
    c1, c2 = st.columns(2)
    c1.metric("attempts shown", len(log))
    c2.metric("not delivered", failed)
    st.dataframe(
        log,
        hide_index=True,
        width="stretch",
        column_config={
            "at": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss"),
            "status": st.column_config.NumberColumn("HTTP", format="%d"),
            "ms": st.column_config.NumberColumn("took", format="%.0f ms"),
        },
    )

st.subheader("Silences")
flash = st.session_state.pop("silence_flash", None)
if flash:
    st.success(flash)
show_expired = st.toggle("include expired", key="alerts_show_expired")
current = common.silence_list(store, show_expired)
if current.empty:
    st.caption("No silences. Create one below to mute matching alerts for a while.")
else:
    st.dataframe(
        current,
        hide_index=True,
        width="stretch",
        column_config={
            "starts": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
            "ends": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
        },
    )
    running = list(current.loc[current["state"] != "expired", "id"])
    if running:
        with st.form("expire_silence"):
            chosen = st.selectbox("silence", running, key="expire_id")
            if st.form_submit_button("Expire now"):
                try:
                    ok = silences.expire_silence(store_at, str(chosen))
                except AlertsDBError as exc:
                    st.error(f"Could not expire it: {exc}")
                else:
                    if ok:
                        st.session_state["silence_flash"] = f"Silence {chosen} expired."
                        st.rerun()
                    st.warning(f"Silence {chosen} had already ended.")

with st.form("new_silence"):
    st.markdown("**New silence**")
    matchers = st.text_area(
        "matchers, one per line",
        placeholder='budget="api-latency"\nroute=~"/api/.*"',
        key="silence_matchers",
    )
    duration = st.text_input("for", "2h", key="silence_for")
    author = st.text_input("created by", key="silence_by")
    comment = st.text_input("comment", key="silence_comment")
    if st.form_submit_button("Create silence"):
        try:
            seconds = parse_duration(duration)
            created = silences.create_silence(
                store_at,
                [m.strip() for m in matchers.splitlines() if m.strip()],
                duration=seconds,
                created_by=author,
                comment=comment,
            )
        except ValueError as exc:
            st.error(f"Not created: {exc}")
        except AlertsDBError as exc:
            st.error(f"Not created, the store cannot be written: {exc}")
        else:
            st.session_state["silence_flash"] = (
                f"Silence {created.id} created: {', '.join(map(str, created.matchers))}"
            )
            st.rerun()
