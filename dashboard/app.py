"""The Castiel dashboard: `castiel dashboard` (or `streamlit run dashboard/app.py`). It reads
the store only; verdicts and alerts come from `castiel run`/`castiel monitor`."""

from pathlib import Path

import streamlit as st

from dashboard import common

# Not `pages/`: Streamlit's frontend also auto-discovers a folder of that name beside the entry
# script, so a fresh browser opening /runtime flashed "Page not found" and /compare listed raw
# file names before this script's navigation arrived. Streamlit puts a page's folder on
# sys.path: a page file named like a package (alerts.py, runtime.py) would shadow it, hence
# the _page suffix on those two.
PAGES = Path(__file__).resolve().parent / "views"

st.set_page_config(page_title="Castiel", page_icon="🛡️", layout="wide")


def sign_in() -> None:
    common.authorized()


if common.configured_password() is None or st.session_state.get("castiel_signed_in"):
    pages = [
        st.Page(PAGES / "overview.py", title="Overview", icon="🏠", default=True),
        st.Page(PAGES / "live.py", title="Live run", icon="📈"),
        st.Page(PAGES / "review.py", title="Budget review", icon="✅"),
        st.Page(PAGES / "compare.py", title="Compare runs", icon="⚖️"),
        st.Page(PAGES / "history_page.py", title="History", icon="📉", url_path="history"),
        st.Page(PAGES / "runtime_page.py", title="Runtime", icon="⚙️", url_path="runtime"),
        st.Page(PAGES / "alerts_page.py", title="Alerts", icon="🚨", url_path="alerts"),
    ]
else:
    # The only page until the password is entered: navigation is always called, so no page
    # file (and no URL) is reachable around the gate.
    pages = [st.Page(sign_in, title="Sign in", icon="🔒", default=True)]
st.navigation(pages).run()
