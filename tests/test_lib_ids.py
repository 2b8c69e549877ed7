"""The public-id base model: ``get_<field>_display`` from a table built once answers as Django's does."""

from __future__ import annotations

from environments.choices import EnvironmentMode, EnvironmentState
from environments.models import Environment


def test_display_of_every_choice_and_of_an_unknown_value():
    env = Environment()
    for value, label in EnvironmentState.choices:
        env.state = value
        assert env.get_state_display() == label
    for value, label in EnvironmentMode.choices:
        env.mode = value
        assert env.get_mode_display() == label
    env.state = "not-a-state"  # Django shows the stored value when no choice names it
    assert env.get_state_display() == "not-a-state"
