"""The fleet page is reachable from the navigation of platform admins and team owners, and the
sweep's stuck-Terminating findings are recorded (one ``namespace.stuck`` event per namespace and
day, as the system, with the finalizers) and shown on the page."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from audit.models import AuditEvent
from environments.fleet import STUCK_NAMESPACE_ACTION, sweep
from microstax.teams import actions as team_actions
from microstax.teams.choices import Role

FLEET_LINK = b'href="/fleet/"'


def test_the_fleet_link_is_in_the_navigation_of_admins_and_owners_only(
    client_for, team, owner, viewer, admin_user, make_user
):
    assert FLEET_LINK in client_for(owner).get("/environments/").content
    assert FLEET_LINK in client_for(admin_user).get("/environments/").content
    assert FLEET_LINK not in client_for(viewer).get("/environments/").content
    make_user("mara")
    team_actions.add_team_member(actor=owner, team=team, username="mara", role=Role.MAINTAINER)
    from django.contrib.auth import get_user_model

    maintainer = get_user_model().objects.get(username="mara")
    assert FLEET_LINK not in client_for(maintainer).get("/environments/").content


def test_the_navigation_costs_no_extra_query_for_the_fleet_link(client_for, owner, viewer):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = []
    for user in (owner, viewer):
        client = client_for(user)
        client.get("/environments/")  # warm the session and the guardian caches
        with CaptureQueriesContext(connection) as queries:
            client.get("/environments/")
        counts.append(len(queries.captured_queries))
    assert counts[0] == counts[1]


def _stick(make_namespace, sim, core, name: str, environment_id: str) -> None:
    make_namespace(name, environment_id)
    sim.faults.stick_namespace(name)
    core.delete_namespace(name)


def test_a_stuck_namespace_is_recorded_once_a_day_as_system_with_its_finalizers(
    sim, sandbox_cluster, make_namespace, core
):
    # given: an orphan whose deletion never finishes
    _stick(make_namespace, sim, core, "stuck", "env_doesnotexist")
    later = timezone.now() + timedelta(minutes=31)
    # when: swept several times the same day
    sweep(now=later)
    sweep(now=later + timedelta(minutes=1))
    # then: one event, by the system, naming the finalizers
    events = list(AuditEvent.objects.filter(action=STUCK_NAMESPACE_ACTION))
    assert len(events) == 1
    event = events[0]
    assert (event.actor_kind, event.target_type, event.target_id) == ("system", "namespace", "stuck")
    assert event.after["finalizers"] == ["kubernetes"]
    assert event.after["environment_id"] == "env_doesnotexist"
    assert "terminating for" in event.reason
    # when: still stuck the next day, it is reported again
    sweep(now=later + timedelta(days=1))
    assert AuditEvent.objects.filter(action=STUCK_NAMESPACE_ACTION).count() == 2


def test_a_dry_run_records_no_stuck_namespace(sim, sandbox_cluster, make_namespace, core):
    _stick(make_namespace, sim, core, "stuck", "env_doesnotexist")
    report = sweep(now=timezone.now() + timedelta(minutes=31), dry_run=True)
    assert [f.name for f in report.stuck_terminating] == ["stuck"]
    assert not AuditEvent.objects.filter(action=STUCK_NAMESPACE_ACTION).exists()


def test_the_fleet_view_shows_stuck_namespaces_to_admins_and_to_the_owning_team(
    provision, client_for, admin_user, owner, outsider, sim, make_namespace, core
):
    # given: a stuck namespace naming an environment of the owner's team, and one naming nobody's
    env = provision("shop")
    _stick(make_namespace, sim, core, "stuck-shop", env.public_id)
    _stick(make_namespace, sim, core, "stuck-ghost", "env_doesnotexist")
    sweep(now=timezone.now() + timedelta(minutes=31))
    event = AuditEvent.objects.get(action=STUCK_NAMESPACE_ACTION, target_id="stuck-shop")
    assert event.team_id == env.team_id
    # then: the admin sees both, the owner their team's, another team's owner neither
    admin_page = client_for(admin_user).get("/fleet/").content.decode()
    assert 'data-stuck="stuck-shop"' in admin_page and 'data-stuck="stuck-ghost"' in admin_page
    assert "<code>kubernetes</code>" in admin_page.split('id="fleet-stuck"')[1]
    owner_page = client_for(owner).get("/fleet/").content.decode()
    assert 'data-stuck="stuck-shop"' in owner_page and 'data-stuck="stuck-ghost"' not in owner_page
    team_actions.create_team(actor=outsider, slug="search", name="Search")
    other = client_for(outsider).get("/fleet/").content.decode()
    assert 'data-stuck="stuck-shop"' not in other
