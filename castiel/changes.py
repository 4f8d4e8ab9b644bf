"""What `castiel check` and `castiel run` say about a run's place in its history: the change
points this run confirmed (budgets/history.py), over the last runs of the same branch and
scenario, this run's fresh verdicts included (recorded or not)."""

from __future__ import annotations

from collections.abc import Sequence

from budgets.history import Entry, describe, histories, newly_confirmed, read_entries
from budgets.verdict import Verdict
from collectors.model import RunInfo
from collectors.store import Store

LAST = 50


def change_notes(store: Store, run: RunInfo, verdicts: Sequence[Verdict]) -> list[str]:
    """One sentence per change point this run confirmed, naming the budget and commit. A run
    stopped early confirms nothing."""
    if run.status != "finished":
        return []
    past = [
        e
        for e in read_entries(
            store, branch=run.git_branch, scenario=run.scenario, last=LAST, until=run
        )
        if e.run.id != run.id
    ]
    entries = [*past[-(LAST - 1) :], Entry(run, tuple(verdicts))]
    notes = []
    for history in histories(entries):
        for change in newly_confirmed(history):
            notes.append(f"{history.title}: {describe(change, history.aggregation)}")
    return notes
