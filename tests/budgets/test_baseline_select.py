"""Like-for-like baseline selection as a pure function: candidates, the current run and the
policy in; the chosen run and the sentence for the report out. No store, no clock."""

from __future__ import annotations

import pytest

from budgets.baseline_config import BaselineConfigError, parse_baseline_section
from budgets.baseline_select import (
    DEFAULT_MATCH,
    MATCH_FIELDS,
    MatchPolicy,
    Selection,
    explicit_note,
    load_identity,
    parse_match,
    profile,
    select_baseline,
    target_host,
)
from castiel.config import parse_project_config
from collectors.model import RunInfo

BUDGETS = "version: 1\nbudgets: []\n"


def env(**over: object) -> dict[str, str]:
    args: dict[str, object] = {
        "users": 50,
        "peak_multiplier": 3.0,
        "duration": 120.0,
        "locustfile": b"class U: pass",
        "target": "http://shop.internal:8000/api",
        "budgets_text": BUDGETS,
    }
    args.update(over)
    return load_identity(**args)  # type: ignore[arg-type]


def run(
    run_id: str,
    started: float,
    *,
    branch: str | None = "main",
    scenario: str = "peak",
    verdict: str | None = "pass",
    **identity: object,
) -> RunInfo:
    return RunInfo(
        id=run_id,
        started_at=started,
        ended_at=started + 120,
        scenario=scenario,
        git_branch=branch,
        environment=env(**identity),
        status="finished",
        verdict=verdict,
    )


CURRENT = run("now", 10_000.0, branch="feature-x", verdict=None)


DEFAULT_POLICY = MatchPolicy()


def choose(
    candidates: list[RunInfo], policy: MatchPolicy = DEFAULT_POLICY, current: RunInfo = CURRENT
) -> Selection:
    return select_baseline(current, profile(current), candidates, policy)


def test_the_newest_like_run_on_the_same_branch_wins() -> None:
    older = run("older", 100.0, branch="feature-x")
    newer = run("newer", 200.0, branch="feature-x")
    on_main = run("main-1", 300.0)
    sel = choose([older, on_main, newer])
    assert sel.run is newer
    assert sel.reason.startswith("last passing run newer on branch feature-x with the same ")
    assert "users=50" in sel.reason and "target=shop.internal:8000" in sel.reason
    assert "fallback" not in sel.reason


@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [
        ("users", 5, "users=50"),
        ("locustfile", b"class Other: pass", "locustfile="),
        ("peak_multiplier", 2.0, "peak_multiplier=3"),
        ("duration", 60.0, "duration=2m"),
        ("target", "http://other:8000", "target=shop.internal:8000"),
        ("budgets_text", "version: 1\nbudgets: [x]\n", "budgets="),
    ],
)
def test_a_run_with_other_load_is_never_chosen(field: str, value: object, shown: str) -> None:
    branches = ["feature-x", "feature-x", "main"]
    unlike = [run(f"r{i}", 100.0 + i, branch=b, **{field: value}) for i, b in enumerate(branches)]
    sel = choose(unlike)
    assert sel.run is None
    assert sel.reason.startswith("no qualifying baseline: 2 passing runs on branch feature-x, ")
    assert f"none with {shown}" in sel.reason
    assert "1 passing run on branch main, none with" in sel.reason


def test_the_example_sentence_of_the_issue() -> None:
    three = [run(f"m{i}", 100.0 + i, users=5) for i in range(3)]
    sel = choose(three, current=run("now", 10_000.0, verdict=None))
    assert sel.run is None
    assert sel.reason == "no qualifying baseline: 3 passing runs on branch main, none with users=50"


def test_falls_back_to_the_default_branch() -> None:
    unlike_here = run("here", 500.0, branch="feature-x", users=10)
    on_main = run("main-1", 300.0)
    sel = choose([unlike_here, on_main])
    assert sel.run is on_main
    assert sel.reason.startswith("last passing run main-1 on branch main with the same")
    assert (
        "fallback to the default branch; 1 passing run on branch feature-x, none with users=50"
        in sel.reason
    )


def test_no_passing_run_on_the_branch_falls_back_too() -> None:
    on_main = run("main-1", 300.0)
    sel = choose([on_main])
    assert sel.run is on_main
    assert "no passing run on branch feature-x before this one" in sel.reason


def test_the_default_branch_is_configurable_and_can_be_off() -> None:
    on_main = run("main-1", 300.0)
    on_trunk = run("trunk-1", 200.0, branch="trunk")
    assert choose([on_main, on_trunk], MatchPolicy(default_branch="trunk")).run is on_trunk
    sel = choose([on_main, on_trunk], MatchPolicy(default_branch=None))
    assert sel.run is None
    assert (
        sel.reason == "no qualifying baseline: no passing run on branch feature-x before this one"
    )


def test_failed_later_and_own_runs_are_not_candidates() -> None:
    failed = run("failed", 100.0, branch="feature-x", verdict="fail")
    unevaluated = run("unevaluated", 110.0, branch="feature-x", verdict=None)
    later = run("later", 20_000.0, branch="feature-x")
    itself = run("now", 9_000.0, branch="feature-x")
    warned = run("warned", 50.0, branch="feature-x", verdict="warn")
    assert choose([failed, unevaluated, later, itself, warned]).run is warned


def test_the_policy_chooses_which_fields_must_match() -> None:
    other_duration = run("short", 100.0, branch="feature-x", duration=30.0)
    other_users = run("few", 200.0, branch="feature-x", users=5)
    assert choose([other_duration, other_users]).run is None
    policy = MatchPolicy(parse_match("scenario,users"))
    sel = choose([other_duration, other_users], policy)
    assert sel.run is other_duration
    assert "with the same scenario=peak, users=50" in sel.reason
    assert choose([other_users], MatchPolicy(())).run is other_users


def test_other_scenarios_are_different_load() -> None:
    soak = run("soak", 100.0, branch="feature-x", scenario="soak")
    assert choose([soak]).run is None
    assert "none with scenario=peak" in choose([soak]).reason


def test_fields_the_run_does_not_record_are_not_compared_but_said() -> None:
    monitor_run = RunInfo("mon", 10_000.0, scenario="peak", git_branch="main")
    candidate = run("main-1", 100.0)
    sel = select_baseline(monitor_run, profile(monitor_run), [candidate], MatchPolicy())
    assert sel.run is candidate
    assert "with the same scenario=peak" in sel.reason
    assert sel.reason.endswith(
        "not compared, this run does not record: users, peak_multiplier, duration, "
        "locustfile, target, budgets, arrival"
    )


def test_a_candidate_that_does_not_record_a_field_differs() -> None:
    legacy = RunInfo("legacy", 100.0, 200.0, "peak", git_branch="feature-x", verdict="pass")
    sel = choose([legacy])
    assert sel.run is None
    assert "none with" in sel.reason and "users differs in 1" in sel.reason


def test_the_budget_file_being_evaluated_is_what_counts() -> None:
    candidate = run("c", 100.0, branch="feature-x")
    edited = profile(CURRENT, budgets_sha256="f" * 64)
    sel = select_baseline(CURRENT, edited, [candidate], MatchPolicy())
    assert sel.run is None and "none with budgets=ffffffffffff" in sel.reason


def test_explicit_baselines_warn_when_unlike() -> None:
    assert explicit_note(CURRENT, profile(CURRENT), run("same", 100.0)) == ""
    note = explicit_note(CURRENT, profile(CURRENT), run("few", 100.0, users=5, verdict="fail"))
    assert note == "; warning: differs from this run in users 5 vs 50; its verdict was fail"
    assert explicit_note(CURRENT, profile(CURRENT), CURRENT) == (
        "; warning: its verdict was never evaluated; it is this run itself"
    )


def test_identity_values_are_exact_and_credentials_never_recorded() -> None:
    ident = load_identity(
        users=7,
        peak_multiplier=1.0 / 3.0,
        duration=90.5,
        locustfile=b"x",
        target="https://user:secret@Shop.Example.com/a?b=c",
        budgets_text="",
    )
    assert ident[MATCH_FIELDS["users"]] == "7"
    assert float(ident[MATCH_FIELDS["peak_multiplier"]]) == 1.0 / 3.0
    assert ident[MATCH_FIELDS["duration"]] == "90.5s"
    assert ident[MATCH_FIELDS["target"]] == "shop.example.com"
    assert "secret" not in repr(ident)
    assert target_host("http://127.0.0.1:8089/x") == "127.0.0.1:8089"


def test_parse_match() -> None:
    assert parse_match("users, locustfile,users") == ("users", "locustfile")
    assert parse_match("peak-multiplier") == ("peak_multiplier",)
    assert parse_match("none") == ()
    with pytest.raises(ValueError, match="unknown field 'user' \\(did you mean 'users'\\?\\)"):
        parse_match("scenario,user")


def test_castiel_yaml_baseline_section() -> None:
    text = "baseline:\n  match: [scenario, users]\n  default_branch: trunk\n"
    assert parse_project_config(text, env={}).baseline == MatchPolicy(
        ("scenario", "users"), "trunk"
    )
    assert parse_baseline_section("baseline:\n  default_branch: null\n") == MatchPolicy(
        DEFAULT_MATCH, None
    )
    assert parse_baseline_section("sources: {}\n") == MatchPolicy()
    with pytest.raises(BaselineConfigError) as err:
        parse_baseline_section("baseline:\n  match: [scenario, user]\n", "castiel.yaml")
    assert str(err.value).startswith("castiel.yaml:2:10: baseline.match: unknown field 'user'")
    with pytest.raises(
        BaselineConfigError, match=r"castiel\.yaml:2:3: baseline\.fallback: unknown"
    ):
        parse_baseline_section("baseline:\n  fallback: main\n", "castiel.yaml")
