"""`castiel alerts …` as a user runs it: real subprocesses, real exit codes, a real receiver."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from alerts.db import AlertsDB
from alerts.outbox import Outbox
from tests.alerts.receivers import Receiver, Reply
from tests.helpers import ROOT


def castiel(
    *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "castiel", "alerts", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


def test_validate_the_example(tmp_path: Path) -> None:
    result = castiel("validate", "examples/alerts.yaml", env={"SLACK_WEBHOOK_URL": "x"})
    assert result.returncode == 0, result.stderr
    assert "examples/alerts.yaml: ok (4 receivers" in result.stdout
    assert "$PAGERDUTY_ROUTING_KEY is not set" in result.stderr
    assert "$SLACK_WEBHOOK_URL" not in result.stderr


def test_validate_reports_every_problem_with_file_line_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "alerts.yaml"
    bad.write_text(
        "route:\n  receiver: nobody\n  group_wait: soon\n"
        "receivers:\n  - name: a\n    slack: {webhook_url: 'not a url'}\n"
    )
    result = castiel("validate", str(bad))
    assert result.returncode == 2
    assert f"{bad}:3:15: route.group_wait: not a duration" in result.stderr
    assert f"{bad}:6:26: receivers[0].slack.webhook_url:" in result.stderr
    assert "route.receiver: unknown receiver 'nobody'" in result.stderr
    assert "Traceback" not in result.stderr


def config_for(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "alerts.yaml"
    path.write_text(
        "route: {receiver: hook}\n"
        "receivers:\n"
        "  - name: hook\n"
        "    webhook: {url: '${HOOK_URL}'}\n"
        "  - name: unset\n"
        "    slack: {webhook_url: '${NOT_SET_HERE}'}\n"
    )
    return path


def test_test_sends_a_marked_notification_and_records_it(
    tmp_path: Path, receiver: Receiver, store_location: str
) -> None:
    cfg = config_for(tmp_path, receiver.url)
    store = store_location
    secret_url = f"{receiver.url}/hooks/s3cr3t-path"
    result = castiel(
        "test", "hook", "--config", str(cfg), "--store", store, env={"HOOK_URL": secret_url}
    )
    assert result.returncode == 0, result.stderr
    assert "delivered to hook" in result.stdout
    (req,) = receiver.delivered()
    body = req.json()
    assert body["castiel"]["test"] is True
    assert body["alerts"][0]["annotations"]["summary"].startswith("[TEST]")
    assert "s3cr3t" not in result.stdout + result.stderr
    with AlertsDB.open(store) as db:
        (attempt,) = Outbox(db).attempts()
    assert (attempt.receiver, attempt.outcome, attempt.test) == ("hook", "delivered", True)
    listing = castiel("attempts", "--store", store)
    assert "hook" in listing.stdout and "delivered" in listing.stdout and "[test]" in listing.stdout


def test_test_reads_castiel_yaml_by_default(tmp_path: Path, receiver: Receiver) -> None:
    (tmp_path / "castiel.yaml").write_text(
        "alerts:\n"
        "  route: {receiver: hook}\n"
        "  receivers: [{name: hook, webhook: {url: '${HOOK_URL}'}}]\n"
    )
    result = castiel("test", "hook", env={"HOOK_URL": receiver.url}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert receiver.delivered()[0].json()["castiel"]["test"] is True
    assert (tmp_path / ".castiel" / "castiel.db").exists()  # the attempt, in the default store
    (tmp_path / "castiel.yaml").unlink()
    none = castiel("test", "hook", cwd=tmp_path)
    assert none.returncode == 2 and "give --config FILE" in none.stderr


def test_test_exit_codes(tmp_path: Path, receiver: Receiver) -> None:
    cfg = config_for(tmp_path, receiver.url)
    store = str(tmp_path / "castiel.db")
    unknown = castiel("test", "nope", "--config", str(cfg), "--store", store)
    assert unknown.returncode == 2 and "no receiver 'nope'" in unknown.stderr
    unset = castiel("test", "unset", "--config", str(cfg), "--store", store)
    assert unset.returncode == 2 and "$NOT_SET_HERE is not set" in unset.stderr
    receiver.default = Reply(503, body=b"down for maintenance")
    down = castiel(
        "test", "hook", "--config", str(cfg), "--store", store, env={"HOOK_URL": receiver.url}
    )
    assert down.returncode == 3 and "http 503: down for maintenance" in down.stderr


def test_silence_create_list_expire(store_location: str) -> None:
    store = store_location
    added = castiel(
        "silence",
        "create",
        'budget="api-latency"',
        'group=~"route=/api/.*"',
        "--duration",
        "2h",
        "--comment",
        "deploying",
        "--author",
        "ann",
        "--store",
        store,
    )
    assert added.returncode == 0, added.stderr
    sid = added.stdout.strip()
    listed = castiel("silence", "list", "--store", store)
    assert sid in listed.stdout and "active" in listed.stdout
    assert 'budget="api-latency" group=~"route=/api/.*"' in listed.stdout
    assert "by ann: deploying" in listed.stdout
    assert castiel("silence", "expire", sid, "--store", store).returncode == 0
    assert castiel("silence", "list", "--store", store).stdout.strip() == "no silences"
    assert "expired" in castiel("silence", "list", "--all", "--store", store).stdout
    again = castiel("silence", "expire", sid, "--store", store)
    assert again.returncode == 2 and "no active or pending silence" in again.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["budget"], "not a label matcher"),
        (['budget=~".*"'], "match every alert"),
        (['budget="x"', "--duration", "soon"], "--duration: 'soon' is not a duration"),
        (['budget="x"', "--until", "tomorrow"], "--until: 'tomorrow' is not an ISO time"),
    ],
)
def test_bad_silences_are_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    extra = [] if "--duration" in args or "--until" in args else ["--duration", "1h"]
    result = castiel(
        "silence", "add", *args, *extra, "--comment", "c", "--store", str(tmp_path / "castiel.db")
    )
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
