"""The Streamlit dashboard: reads the store, never computes verdicts or fires alerts."""
