"""Row locks taken by the create actions: they must not block foreign-key checks of other writers.

Under load on PostgreSQL, createEnvironment (team row, then the audit chain head) deadlocked with a
provisioning task (audit chain head, then a row referencing the team: a FOR KEY SHARE on the team)
because FOR UPDATE conflicts with FOR KEY SHARE; FOR NO KEY UPDATE does not.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from environments import actions
from tests.environments.test_lifecycle import STACK

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks are PostgreSQL's")


def _locks(run) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        run()
    return [q["sql"] for q in captured.captured_queries if "FOR " in q["sql"] and "teams_team" in q["sql"]]


def test_creating_an_environment_locks_the_team_without_blocking_foreign_keys(team, owner, sandbox_cluster):
    locks = _locks(lambda: actions.create_environment(actor=owner, team=team, source=STACK))
    assert locks and all(sql.rstrip().endswith("FOR NO KEY UPDATE") for sql in locks), locks
