"""Loaded into the Locust process (`-f user.py,shape_plugin.py,...`): the scenario's shape,
configured from $CASTIEL_SCENARIO, $CASTIEL_USERS, $CASTIEL_DURATION, $CASTIEL_PEAK_MULTIPLIER."""

from loadtest.shapes import ScenarioShape


class CastielScenario(ScenarioShape):
    pass
