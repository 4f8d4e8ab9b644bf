"""Castiel's composition root: the `castiel` CLI, project config and the demo."""
