"""Draws docs/images/scenarios.png: the user count over time of every scenario profile.

.venv/bin/python docs/make_scenario_plots.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from loadtest.profiles import SCENARIOS, build  # noqa: E402


def main() -> None:
    fig, axes = plt.subplots(1, len(SCENARIOS), figsize=(15, 2.8), sharey=True)
    for ax, scenario in zip(axes, SCENARIOS, strict=True):
        profile = build(scenario, users=50, duration=600, peak_multiplier=3)
        t, users = [0.0], [0]
        for stage in profile.stages:
            start = t[-1]
            ramp = min(stage.until - start, abs(stage.users - users[-1]) / stage.spawn_rate)
            t += [start + ramp, stage.until]
            users += [stage.users, stage.users]
        ax.plot([x / 60 for x in t], users, color="#0969da", linewidth=2)
        ax.fill_between([x / 60 for x in t], users, alpha=0.15, color="#0969da")
        ax.set_title(scenario)
        ax.set_xlabel("minutes")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("users")
    fig.suptitle("Scenario profiles: 50 base users, peak multiplier 3, 10-minute run", y=1.02)
    fig.tight_layout()
    out = ROOT / "docs" / "images" / "scenarios.png"
    fig.savefig(out, dpi=110, bbox_inches="tight")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
