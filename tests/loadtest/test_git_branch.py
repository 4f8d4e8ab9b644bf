"""The branch a run records decides its last-passing baseline: on a CI checkout (a detached
HEAD) it comes from the CI's variables, not the literal "HEAD"."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from loadtest.orchestrator import CI_BRANCH_VARIABLES, ci_branch, git_info
from tests.helpers import need


def test_ci_branch_prefers_the_pull_request_source() -> None:
    assert ci_branch({"GITHUB_REF_NAME": "12/merge", "GITHUB_HEAD_REF": "feature-x"}) == "feature-x"
    assert ci_branch({"GITHUB_HEAD_REF": "", "GITHUB_REF_NAME": "main"}) == "main"
    assert ci_branch({"CI_COMMIT_BRANCH": "main"}) == "main"
    assert ci_branch({}) is None


def test_a_detached_checkout_records_the_ci_branch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    need("git")

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
            cwd=tmp_path, check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip

    git("init", "-q", "-b", "work")
    git("commit", "-q", "--allow-empty", "-m", "one")
    monkeypatch.chdir(tmp_path)
    for name in CI_BRANCH_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    commit = git("rev-parse", "HEAD")
    assert git_info() == (commit, "work")
    git("checkout", "-q", "--detach")
    assert git_info() == (commit, None)
    monkeypatch.setenv("GITHUB_HEAD_REF", "feature-x")
    assert git_info() == (commit, "feature-x")
