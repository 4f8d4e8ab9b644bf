"""The Castiel dashboard: `castiel dashboard` (or `streamlit run dashboard/app.py`). It reads
the store only; verdicts and alerts come from `castiel run`/`castiel monitor`."""

import streamlit as st

from dashboard import common, navigation

st.set_page_config(page_title="Castiel", page_icon="🛡️", layout="wide")


def sign_in() -> None:
    common.authorized()


if common.configured_password() is None or st.session_state.get("castiel_signed_in"):
    pages = navigation.pages()  # dashboard/navigation.py lists them
else:
    # The only page until the password is entered: navigation is always called, so no page
    # file (and no URL) is reachable around the gate.
    pages = [st.Page(sign_in, title="Sign in", icon="🔒", default=True)]
st.navigation(pages).run()
