"""The fleet page: who may see it and which teams, what it shows (states, namespaces over time,
expiries, idle candidates, cleanup, drift, cost), its SVG charts, and a query count that does not
grow with the number of environments."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from environments import fleet_view
from environments.fleet import sweep
from environments.models import Environment
from microstax.lib.ids import new_public_id
from microstax.teams import actions as team_actions
from microstax.teams.choices import Role


def _rows(template: Environment, count: int, *, team=None, **fields) -> list[Environment]:
    """``count`` environments like ``template`` made in bulk (``idle_at`` set by hand: no save)."""
    now = timezone.now()
    rows = []
    for _ in range(count):
        public_id = new_public_id("env")
        values = {
            "state": "ready",
            "created_at": now - timedelta(days=3),
            "last_activity_at": now,
            "idle_at": now + timedelta(hours=5),
            **fields,
        }
        rows.append(
            Environment(
                public_id=public_id,
                team=team or template.team,
                name=f"{values['state']}-{public_id[-8:]}",
                source=template.source,
                spec=template.spec,
                spec_hash=template.spec_hash,
                cluster=template.cluster,
                namespace=f"env-{public_id[-12:]}",
                created_by=template.created_by,
                **values,
            )
        )
    return Environment.objects.bulk_create(rows)


def test_only_platform_admins_and_team_owners_see_the_fleet(provision, client_for, viewer, outsider, owner, admin_user):
    provision()
    assert client_for().get("/fleet/").status_code == 302  # to the login page
    assert client_for(viewer).get("/fleet/").status_code == 403
    # an outsider owns another team: they see that team's fleet, not this one
    team_actions.create_team(actor=outsider, slug="search", name="Search")
    page = client_for(outsider).get("/fleet/")
    assert page.status_code == 200
    assert b'data-team="payments"' not in page.content
    assert b'data-team="payments"' in client_for(owner).get("/fleet/").content
    assert b'data-team="payments"' in client_for(admin_user).get("/fleet/").content


def test_a_maintainer_is_not_an_owner(provision, client_for, make_user, team, owner):
    provision()
    maintainer = make_user("mara")
    team_actions.add_team_member(actor=owner, team=team, username="mara", role=Role.MAINTAINER)
    assert client_for(maintainer).get("/fleet/").status_code == 403


def test_the_page_shows_states_growth_expiries_idle_drift_and_cleanup(
    provision, client_for, admin_user, make_namespace
):
    # given: a provisioned environment, and rows in every situation the page reports
    template = provision("template")
    now = timezone.now()
    _rows(template, 2, state="stopped")
    [expiring] = _rows(template, 1, expires_at=now + timedelta(days=2))
    [idle] = _rows(template, 1, idle_at=now + timedelta(minutes=20))
    [drifted] = _rows(template, 1, drift=[{"kind": "Deployment", "name": "api", "change": "replicas 1 → 3"}])
    _rows(template, 1, drift=[])
    _rows(template, 3, state="deleted", created_at=now - timedelta(days=10), deleted_at=now - timedelta(days=5))
    make_namespace("ghost", "env_doesnotexist")
    assert len(sweep().orphan_namespaces_deleted) == 1
    # when
    page = client_for(admin_user).get("/fleet/")
    # then
    assert page.status_code == 200
    html = page.content.decode()
    states = dict(fleet_view.by_state_and_team(fleet_view.scope_for(admin_user)))
    assert states == {"payments": {"ready": 5, "stopped": 2}}
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" class="fleet-') == 2
    assert 'data-state="stopped"' in html
    assert 'id="fleet-expiring"' in html and f'data-env="{expiring.public_id}"' in html
    assert f'data-env="{idle.public_id}"' in html.split('id="fleet-idle"')[1].split("</table>")[0]
    drift_section = html.split('id="fleet-drift"')[1].split("</table>")[0]
    assert f'data-env="{drifted.public_id}"' in drift_section and "replicas 1 → 3" in drift_section
    assert drift_section.count("data-env=") == 1
    assert 'data-namespace="ghost"' in html
    assert 'orphan namespaces removed</td><td data-count="1">' in html


def test_namespaces_over_time_counts_live_created_and_deleted_per_day(provision, admin_user):
    template = provision("template")  # created today
    now = timezone.now()
    _rows(template, 3, state="deleted", created_at=now - timedelta(days=10), deleted_at=now - timedelta(days=5))
    series = fleet_view.namespaces_over_time(fleet_view.scope_for(admin_user), now)
    assert len(series["live"]) == 30
    assert series["live"][-1] == 1  # today: the template only
    assert series["live"][-7] == 3  # six days ago: the three, not yet deleted, and no template
    assert series["created"][-11] == 3 and series["deleted"][-6] == 3
    assert series["created"][-1] == 1


def test_the_cost_section_lists_each_team(provision, client_for, owner):
    provision()
    html = client_for(owner).get("/fleet/").content.decode()
    if fleet_view.cost_by_team(fleet_view.scope_for(owner)) is None:
        pytest.skip("environments.actions.costs is not installed")
    assert 'id="fleet-cost"' in html and 'data-team="payments"' in html.split('id="fleet-cost"')[1]


def test_the_page_costs_the_same_queries_for_few_or_many_environments(provision, client_for, admin_user):
    template = provision("template")
    client = client_for(admin_user)
    client.get("/fleet/")  # warm the session and the guardian caches
    with CaptureQueriesContext(connection) as small:
        assert client.get("/fleet/").status_code == 200
    now = timezone.now()
    _rows(template, 40, expires_at=now + timedelta(days=1), idle_at=now)
    _rows(template, 40, state="deleted", deleted_at=now - timedelta(days=2))
    _rows(template, 10, drift=[{"kind": "Service", "name": "db", "change": "deleted"}])
    with CaptureQueriesContext(connection) as large:
        assert client.get("/fleet/").status_code == 200
    assert len(large.captured_queries) == len(small.captured_queries)
