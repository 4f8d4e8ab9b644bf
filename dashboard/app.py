"""The Castiel dashboard: `castiel dashboard` (or `streamlit run dashboard/app.py`). It reads
the store only; verdicts and alerts come from `castiel run`/`castiel monitor`."""

from pathlib import Path

import streamlit as st

PAGES = Path(__file__).resolve().parent / "pages"

st.set_page_config(page_title="Castiel", page_icon="🛡️", layout="wide")
st.navigation(
    [
        st.Page(PAGES / "overview.py", title="Overview", icon="🏠", default=True),
        st.Page(PAGES / "live.py", title="Live run", icon="📈"),
        st.Page(PAGES / "review.py", title="Budget review", icon="✅"),
        st.Page(PAGES / "compare.py", title="Compare runs", icon="⚖️"),
        st.Page(PAGES / "runtime.py", title="Runtime", icon="⚙️"),
    ]
).run()
