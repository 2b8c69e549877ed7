"""Team policies: owners (and platform admins) set them within the platform's ceilings, every entry
point that sets a limited value enforces them, and each refusal names the limit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from environments import actions
from environments.actions import policies
from environments.models import Cluster, Environment, TeamPolicy
from microstax.lib.errors import InvalidInput, NotFound, PermissionDenied
from microstax.teams import actions as team_actions
from microstax.teams.choices import Role
from tests.environments.test_lifecycle import STACK
from tests.environments.test_overlays import BASELINE, OVERLAY

UPDATE = """mutation($input: UpdateTeamPolicyInput!) { updateTeamPolicy(input: $input) {
  policy { team maxEnvironments maxTtlHoursOverlay defaultTtlHours driftPolicy canEdit }
  errors { code field message } } }"""
SHOW = """query($t: ID) { teamPolicy(team: $t) { team maxEnvironments maxCpuMillicores maxMemoryMib
  maxPodsPerEnvironment defaultTtlHours baselineTtlHours overlayTtlHours maxTtlHoursIsolated maxTtlHoursBaseline
  maxTtlHoursOverlay idleDelayMinutes snapshotRetentionDays driftPolicy canEdit
  ceilings { maxTtlHours maxEnvironments maxIdleDelayMinutes } usage { environments cpuMillicores memoryMib } } }"""
NO_TTL = STACK.replace("ttl: 48h\n", "")


@pytest.fixture
def cluster(db):
    return Cluster.objects.create(name="sandbox", kind="sandbox", ingress_domain="sandbox.localhost", is_default=True)


@pytest.fixture
def set_policy(team):
    def set_(**values) -> TeamPolicy:
        policy = TeamPolicy.for_team(team)
        for name, value in values.items():
            setattr(policy, name, value)
        policy.save()
        return policy

    return set_


def _policy_events():
    """The policy changes made (a refused attempt writes a `denied` event of the same action)."""
    return AuditEvent.objects.filter(action="team.policy.update", outcome="success")


def _refused(run, code: str, field: str) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        run()
    assert (info.value.code, info.value.field) == (code, field), info.value.message
    return info.value


def _hours_from_now(moment) -> float:
    return (moment - timezone.now()).total_seconds() / 3600


@pytest.fixture
def baseline(team, owner, cluster):
    env = actions.create_environment(actor=owner, team=team, source=BASELINE)
    Environment.objects.filter(pk=env.pk).update(state="ready")
    env.refresh_from_db()
    return env


# --- who may set the policy, and what it records -------------------------------------------------


def test_an_owner_sets_the_policy_with_one_audit_event_of_what_changed(team, owner):
    policy = policies.update_team_policy(
        actor=owner, team=team, max_environments=4, max_ttl_hours_overlay=48, drift_policy="reapply"
    )
    assert (policy.max_environments, policy.max_ttl_hours_overlay, policy.drift_policy) == (4, 48, "reapply")
    assert TeamPolicy.objects.get(team=team).max_environments == 4
    event = _policy_events().get()
    assert (event.actor_name, event.target_type, event.target_id, event.team_id) == (
        "olivia",
        "team",
        team.public_id,
        team.pk,
    )
    assert event.before == {"max_environments": 10, "max_ttl_hours_overlay": 168, "drift_policy": "record"}
    assert event.after == {"max_environments": 4, "max_ttl_hours_overlay": 48, "drift_policy": "reapply"}


def test_an_update_that_changes_nothing_writes_nothing(team, owner):
    policies.update_team_policy(actor=owner, team=team, max_environments=10)
    assert not _policy_events().exists() and not TeamPolicy.objects.exists()


def test_a_platform_admin_sets_any_teams_policy(team, admin_user):
    policies.update_team_policy(actor=admin_user, team=team, snapshot_retention_days=30)
    assert TeamPolicy.objects.get(team=team).snapshot_retention_days == 30
    assert _policy_events().get().actor_name == "root-admin"


@pytest.mark.parametrize("role", [Role.VIEWER, Role.DEVELOPER, Role.MAINTAINER])
def test_members_below_owner_cannot_set_the_policy_and_leave_no_trace(team, owner, make_user, role):
    member = make_user(f"m-{role}")
    team_actions.add_team_member(actor=owner, team=team, username=member.username, role=role)
    with pytest.raises(PermissionDenied, match="setting team policy"):
        policies.update_team_policy(actor=member, team=team, max_environments=1)
    assert not TeamPolicy.objects.exists() and not _policy_events().exists()


def test_an_outsider_is_told_the_team_does_not_exist(team, outsider):
    with pytest.raises(NotFound):
        policies.update_team_policy(actor=outsider, team=team, max_environments=1)
    assert not TeamPolicy.objects.exists() and not _policy_events().exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"max_environments": 0}, "maxEnvironments"),
        ({"max_environments": 201}, "maxEnvironments"),
        ({"max_cpu_millicores": 99}, "maxCpuMillicores"),
        ({"max_ttl_hours_isolated": 2161}, "maxTtlHoursIsolated"),
        ({"idle_delay_minutes": 4}, "idleDelayMinutes"),
        ({"snapshot_retention_days": 366}, "snapshotRetentionDays"),
        ({"max_pods_per_environment": 501}, "maxPodsPerEnvironment"),
        ({"overlay_ttl_hours": 169}, "overlayTtlHours"),  # above max_ttl_hours_overlay (168)
        ({"max_ttl_hours_overlay": 12}, "overlayTtlHours"),  # below the current default (24)
        ({"default_ttl_hours": 10, "max_ttl_hours_isolated": 5}, "defaultTtlHours"),
    ],
)
def test_out_of_range_values_are_refused_naming_the_field(team, owner, changes, field):
    _refused(lambda: policies.update_team_policy(actor=owner, team=team, **changes), "POLICY_LIMIT", field)
    assert not TeamPolicy.objects.exists() and not _policy_events().exists()


def test_a_bad_drift_policy_or_unknown_setting_is_refused(team, owner):
    _refused(
        lambda: policies.update_team_policy(actor=owner, team=team, drift_policy="ignore"), "INVALID", "driftPolicy"
    )
    _refused(lambda: policies.update_team_policy(actor=owner, team=team, max_pets=3), "INVALID", "maxPets")
    _refused(
        lambda: policies.update_team_policy(actor=owner, team=team, max_environments="3"), "INVALID", "maxEnvironments"
    )


def test_the_platform_ceilings_come_from_settings(team, owner, settings):
    settings.MICROSTAX_MAX_TTL_HOURS = 100
    settings.MICROSTAX_MAX_ENVIRONMENTS_PER_TEAM = 3
    error = _refused(
        lambda: policies.update_team_policy(actor=owner, team=team, max_ttl_hours_baseline=101),
        "POLICY_LIMIT",
        "maxTtlHoursBaseline",
    )
    assert "MAX_TTL_HOURS" in error.message
    _refused(
        lambda: policies.update_team_policy(actor=owner, team=team, max_environments=4),
        "POLICY_LIMIT",
        "maxEnvironments",
    )
    assert policies.update_team_policy(actor=owner, team=team, max_environments=3).max_environments == 3


# --- GraphQL ----------------------------------------------------------------------------------------


def test_members_read_the_policy_with_ceilings_and_usage(gql, team, viewer, owner, cluster):
    actions.create_environment(actor=owner, team=team, source=STACK)
    data = gql(SHOW, {"t": team.slug}, user=viewer)["data"]["teamPolicy"]
    assert data["team"] == "payments" and data["canEdit"] is False
    assert (data["maxEnvironments"], data["overlayTtlHours"], data["maxTtlHoursOverlay"]) == (10, 24, 168)
    assert data["defaultTtlHours"] is None and data["driftPolicy"] == "record"
    assert data["ceilings"] == {"maxTtlHours": 2160, "maxEnvironments": 200, "maxIdleDelayMinutes": 10080}
    assert data["usage"] == {"environments": 1, "cpuMillicores": 250, "memoryMib": 256}
    assert gql(SHOW, {"t": team.slug}, user=owner)["data"]["teamPolicy"]["canEdit"] is True
    # the only team of the caller when none is named
    assert gql(SHOW, {}, user=viewer)["data"]["teamPolicy"]["team"] == "payments"


def test_an_outsider_cannot_read_the_policy(gql, team, outsider):
    body = gql(SHOW, {"t": team.slug}, user=outsider)
    assert body["data"] is None and body["errors"][0]["extensions"]["field"] == "team"


def test_update_team_policy_through_graphql_for_each_persona(gql, team, owner, viewer, outsider):
    variables = {"input": {"team": team.public_id, "maxEnvironments": 3, "defaultTtlHours": 12}}
    denied = gql(UPDATE, variables, user=viewer)["data"]["updateTeamPolicy"]
    assert denied["policy"] is None and denied["errors"][0]["code"] == "PERMISSION_DENIED"
    hidden = gql(UPDATE, variables, user=outsider)["data"]["updateTeamPolicy"]
    assert hidden["errors"][0]["code"] == "NOT_FOUND"
    assert not TeamPolicy.objects.exists() and not _policy_events().exists()

    data = gql(UPDATE, variables, user=owner)["data"]["updateTeamPolicy"]
    assert data["errors"] == []
    assert data["policy"] == {
        "team": "payments",
        "maxEnvironments": 3,
        "maxTtlHoursOverlay": 168,
        "defaultTtlHours": 12,
        "driftPolicy": "record",
        "canEdit": True,
    }
    # null clears a default TTL; fields not given stay
    cleared = gql(UPDATE, {"input": {"team": team.slug, "defaultTtlHours": None}}, user=owner)
    assert cleared["data"]["updateTeamPolicy"]["policy"]["defaultTtlHours"] is None
    assert TeamPolicy.objects.get(team=team).max_environments == 3
    assert _policy_events().count() == 2


def test_an_out_of_range_value_through_graphql_names_the_field(gql, team, owner):
    data = gql(UPDATE, {"input": {"team": team.slug, "maxTtlHoursOverlay": 9999}}, user=owner)["data"]
    error = data["updateTeamPolicy"]["errors"][0]
    assert (error["code"], error["field"]) == ("POLICY_LIMIT", "maxTtlHoursOverlay")
    assert "2160" in error["message"]


# --- the entry points that set limited values -------------------------------------------------------


def test_create_refuses_a_ttl_above_the_isolated_maximum(team, owner, cluster, set_policy):
    set_policy(max_ttl_hours_isolated=24)
    error = _refused(lambda: actions.create_environment(actor=owner, team=team, source=STACK), "POLICY_LIMIT", "ttl")
    assert "24h" in error.message and "max_ttl_hours_isolated" in error.message
    _refused(
        lambda: actions.create_environment(actor=owner, team=team, source=NO_TTL, ttl="25h"), "POLICY_LIMIT", "ttl"
    )
    assert not Environment.objects.exists()
    env = actions.create_environment(actor=owner, team=team, source=STACK, ttl="24h")
    assert _hours_from_now(env.expires_at) == pytest.approx(24, abs=0.01)


def test_create_without_a_ttl_gets_the_default_or_else_the_maximum(team, owner, cluster, set_policy):
    set_policy(default_ttl_hours=8)
    env = actions.create_environment(actor=owner, team=team, source=NO_TTL, name="with-default")
    assert _hours_from_now(env.expires_at) == pytest.approx(8, abs=0.01)
    set_policy(default_ttl_hours=None, max_ttl_hours_isolated=36)
    env = actions.create_environment(actor=owner, team=team, source=NO_TTL, name="without")
    assert _hours_from_now(env.expires_at) == pytest.approx(36, abs=0.01)


def test_create_baseline_uses_the_baseline_limits(gql, team, owner, cluster, set_policy):
    set_policy(max_ttl_hours_baseline=100)
    mutation = """mutation($t: ID!, $y: String!) { createBaseline(input: {team: $t, yaml: $y}) {
      environment { id expiresAt } errors { code field message } } }"""
    data = gql(mutation, {"t": team.slug, "y": STACK}, user=owner)["data"]["createBaseline"]  # 48h: fine
    assert data["errors"] == []
    data = gql(mutation, {"t": team.slug, "y": BASELINE}, user=owner)["data"]["createBaseline"]  # 720h
    assert (data["errors"][0]["code"], data["errors"][0]["field"]) == ("POLICY_LIMIT", "ttl")
    assert "max_ttl_hours_baseline" in data["errors"][0]["message"]
    set_policy(max_ttl_hours_baseline=100, baseline_ttl_hours=50)
    env = actions.create_environment(
        actor=owner, team=team, source=BASELINE.replace("ttl: 720h\n", ""), name="base2", mode="baseline"
    )
    assert _hours_from_now(env.expires_at) == pytest.approx(50, abs=0.01)


def test_create_overlay_uses_the_overlay_limits(baseline, team, owner, set_policy):
    set_policy(max_ttl_hours_overlay=12, overlay_ttl_hours=6)
    _refused(
        lambda: actions.create_overlay(actor=owner, base=baseline, source=OVERLAY, ttl="13h"), "POLICY_LIMIT", "ttl"
    )
    _refused(
        lambda: actions.create_overlay(actor=owner, base=baseline, source=OVERLAY + "ttl: 2d\n"), "POLICY_LIMIT", "ttl"
    )
    assert not Environment.objects.filter(mode="overlay").exists()
    overlay = actions.create_overlay(actor=owner, base=baseline, source=OVERLAY)
    assert _hours_from_now(overlay.expires_at) == pytest.approx(6, abs=0.01)


def test_extend_ttl_is_bounded_by_the_maximum_of_the_mode(gql, team, owner, cluster, set_policy):
    env = actions.create_environment(actor=owner, team=team, source=STACK)
    set_policy(max_ttl_hours_isolated=72)
    mutation = """mutation($id: ID!, $ttl: String!) { extendEnvironment(input: {id: $id, ttl: $ttl}) {
      environment { expiresAt } errors { code field message } } }"""
    data = gql(mutation, {"id": env.public_id, "ttl": "73h"}, user=owner)["data"]["extendEnvironment"]
    assert (data["errors"][0]["code"], data["errors"][0]["field"]) == ("POLICY_LIMIT", "ttl")
    assert "72h" in data["errors"][0]["message"]
    assert AuditEvent.objects.filter(action="environment.ttl").count() == 0
    data = gql(mutation, {"id": env.public_id, "ttl": "72h"}, user=owner)["data"]["extendEnvironment"]
    assert data["errors"] == []


def test_extend_ttl_of_an_overlay_uses_the_overlay_maximum(baseline, owner, set_policy):
    overlay = actions.create_overlay(actor=owner, base=baseline, source=OVERLAY)
    set_policy(max_ttl_hours_overlay=10)
    _refused(lambda: actions.extend_ttl(actor=owner, env=overlay, ttl="11h"), "POLICY_LIMIT", "ttl")
    actions.extend_ttl(actor=owner, env=baseline, ttl="11h")  # the baseline's maximum is another


def test_the_idle_delay_defaults_to_the_teams_and_is_bounded(team, owner, cluster, set_policy, settings):
    set_policy(idle_delay_minutes=45)
    env = actions.create_environment(actor=owner, team=team, source=STACK, name="team-default")
    assert env.auto_shutdown_delay_minutes == 45
    own = actions.create_environment(
        actor=owner, team=team, source=STACK + "autoShutdownDelayMinutes: 90\n", name="own-delay"
    )
    assert own.auto_shutdown_delay_minutes == 90
    settings.MICROSTAX_MAX_IDLE_DELAY_MINUTES = 60
    _refused(
        lambda: actions.create_environment(actor=owner, team=team, source=STACK + "autoShutdownDelayMinutes: 90\n"),
        "POLICY_LIMIT",
        "yaml",
    )


def test_set_idle_policy_is_bounded_by_the_platform(gql, team, owner, cluster, settings):
    env = actions.create_environment(actor=owner, team=team, source=STACK)
    settings.MICROSTAX_MAX_IDLE_DELAY_MINUTES = 120
    mutation = """mutation($id: ID!, $d: Int) { setAutoShutdown(input: {id: $id, enabled: true, delayMinutes: $d}) {
      environment { autoShutdownDelayMinutes } errors { code field message } } }"""
    for delay in (4, 121):
        data = gql(mutation, {"id": env.public_id, "d": delay}, user=owner)["data"]["setAutoShutdown"]
        assert (data["errors"][0]["code"], data["errors"][0]["field"]) == ("POLICY_LIMIT", "delayMinutes")
        assert "MICROSTAX_MAX_IDLE_DELAY_MINUTES" in data["errors"][0]["message"]
    data = gql(mutation, {"id": env.public_id, "d": 120}, user=owner)["data"]["setAutoShutdown"]
    assert data == {"environment": {"autoShutdownDelayMinutes": 120}, "errors": []}


def test_max_live_environments_is_enforced_at_create_naming_the_limit(gql, team, owner, cluster, set_policy):
    set_policy(max_environments=1)
    actions.create_environment(actor=owner, team=team, source=STACK, name="one")
    mutation = """mutation($t: ID!, $y: String!) { createEnvironment(input: {team: $t, yaml: $y, name: "two"}) {
      environment { id } errors { code field message } } }"""
    data = gql(mutation, {"t": team.slug, "y": STACK}, user=owner)["data"]["createEnvironment"]
    assert (data["errors"][0]["code"], data["errors"][0]["field"]) == ("QUOTA_EXCEEDED", "team")
    assert "max_environments" in data["errors"][0]["message"]
    assert Environment.objects.count() == 1


def test_the_cpu_and_memory_budget_is_enforced_at_create_and_overlay_create(baseline, team, owner, set_policy):
    # the baseline requests 700m CPU and 896Mi; the overlay 400m and 512Mi more
    set_policy(max_cpu_millicores=1000)
    error = _refused(
        lambda: actions.create_overlay(actor=owner, base=baseline, source=OVERLAY), "QUOTA_EXCEEDED", "yaml"
    )
    assert "max_cpu_millicores" in error.message
    set_policy(max_cpu_millicores=2000, max_memory_mib=1024)
    error = _refused(
        lambda: actions.create_overlay(actor=owner, base=baseline, source=OVERLAY), "QUOTA_EXCEEDED", "yaml"
    )
    assert "max_memory_mib" in error.message
    error = _refused(lambda: actions.create_environment(actor=owner, team=team, source=STACK), "QUOTA_EXCEEDED", "yaml")
    assert Environment.objects.count() == 1


def test_the_ceiling_applies_when_it_is_below_the_teams_policy(team, owner, cluster, set_policy, settings):
    set_policy(max_environments=10, max_ttl_hours_isolated=1000)
    settings.MICROSTAX_MAX_ENVIRONMENTS_PER_TEAM = 1
    settings.MICROSTAX_MAX_TTL_HOURS = 24
    error = _refused(lambda: actions.create_environment(actor=owner, team=team, source=STACK), "POLICY_LIMIT", "ttl")
    assert "MAX_TTL_HOURS" in error.message
    actions.create_environment(actor=owner, team=team, source=STACK, ttl="24h", name="one")
    error = _refused(
        lambda: actions.create_environment(actor=owner, team=team, source=STACK, ttl="1h", name="two"),
        "QUOTA_EXCEEDED",
        "team",
    )
    assert "MAX_ENVIRONMENTS" in error.message


def test_update_and_scale_enforce_the_budget(gql, team, owner, cluster, set_policy):
    env = actions.create_environment(actor=owner, team=team, source=STACK)
    set_policy(max_cpu_millicores=600)
    # update: api at 3 replicas needs 750m
    three = STACK.replace("    expose: true\n", "    expose: true\n    replicas: 3\n")
    error = _refused(lambda: actions.update_environment(actor=owner, env=env, source=three), "QUOTA_EXCEEDED", "yaml")
    assert "750m" in error.message and "max_cpu_millicores" in error.message
    # scale: 2 × 250m is within the budget, 3 × 250m is not
    mutation = """mutation($id: ID!, $n: Int!) { scaleService(input: {id: $id, service: "api", replicas: $n}) {
      errors { code field message } } }"""
    data = gql(mutation, {"id": env.public_id, "n": 3}, user=owner)["data"]["scaleService"]
    assert (data["errors"][0]["code"], data["errors"][0]["field"]) == ("QUOTA_EXCEEDED", "yaml")
    assert "600m budget" in data["errors"][0]["message"]
    assert gql(mutation, {"id": env.public_id, "n": 2}, user=owner)["data"]["scaleService"]["errors"] == []
    env.refresh_from_db()
    assert env.requested_cpu_millicores == 500


def test_update_of_an_overlay_counts_only_its_local_services(baseline, owner, set_policy):
    overlay = actions.create_overlay(actor=owner, base=baseline, source=OVERLAY)
    Environment.objects.filter(pk=overlay.pk).update(state="ready")
    overlay.refresh_from_db()
    # the baseline's 700m and the overlay's own 400m (checkout and the promoted storefront)
    set_policy(max_cpu_millicores=1100)
    actions.update_environment(actor=owner, env=overlay, source=OVERLAY.replace(":feat-checkout", ":feat-2"))
    set_policy(max_cpu_millicores=1099)
    Environment.objects.filter(pk=overlay.pk).update(state="ready")
    overlay.refresh_from_db()
    _refused(lambda: actions.update_environment(actor=owner, env=overlay, source=OVERLAY), "QUOTA_EXCEEDED", "yaml")


def test_a_stored_policy_keeps_its_limits_between_reads(team, owner):
    policies.update_team_policy(actor=owner, team=team, max_ttl_hours_isolated=30)
    limits = policies.Limits.for_team(team)
    assert limits.max_ttl_hours("isolated") == 30 and limits.default_ttl_hours("isolated") == 30
    assert limits.max_ttl_hours("overlay") == 168 and limits.default_ttl_hours("overlay") == 24
    assert policies.expiry(team, "isolated", "30h", now=timezone.now()) - timezone.now() <= timedelta(hours=30)


# --- the team page ----------------------------------------------------------------------------------

FORM = {
    "max_environments": "6",
    "max_cpu_millicores": "16000",
    "max_memory_mib": "32768",
    "max_pods_per_environment": "100",
    "default_ttl_hours": "",
    "max_ttl_hours_isolated": "2160",
    "baseline_ttl_hours": "",
    "max_ttl_hours_baseline": "2160",
    "overlay_ttl_hours": "24",
    "max_ttl_hours_overlay": "168",
    "idle_delay_minutes": "30",
    "snapshot_retention_days": "14",
    "drift_policy": "record",
}


def test_the_team_page_shows_the_policy_to_members_and_the_form_to_owners(client_for, team, owner, viewer, outsider):
    page = client_for(viewer).get(f"/teams/{team.public_id}/").content.decode()
    assert 'data-testid="policy-table"' in page and 'data-setting="ttl_overlay"' in page
    assert "24 / 168 h" in page and "Save policy" not in page
    page = client_for(owner).get(f"/teams/{team.public_id}/").content.decode()
    assert "Save policy" in page and 'name="max_ttl_hours_overlay"' in page and "csrfmiddlewaretoken" in page
    assert client_for(outsider).get(f"/teams/{team.public_id}/").status_code == 404


def test_an_owner_saves_the_policy_from_the_team_page(client_for, team, owner):
    client = client_for(owner)
    response = client.post(f"/teams/{team.public_id}/policy/", FORM)
    assert response.status_code == 302
    assert TeamPolicy.objects.get(team=team).max_environments == 6
    assert _policy_events().get().after == {"max_environments": 6}
    # with htmx: the section comes back saying so
    fragment = client.post(
        f"/teams/{team.public_id}/policy/", {**FORM, "drift_policy": "reapply"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert 'data-testid="policy-saved"' in fragment and "Record it and re-apply" in fragment
    assert _policy_events().count() == 2


def test_a_refused_value_is_shown_next_to_its_field(client_for, team, owner):
    client = client_for(owner)
    response = client.post(f"/teams/{team.public_id}/policy/", {**FORM, "max_ttl_hours_overlay": "9999"})
    assert response.status_code == 400
    page = response.content.decode()
    assert 'data-error-for="max_ttl_hours_overlay"' in page and "2160" in page
    fragment = client.post(
        f"/teams/{team.public_id}/policy/", {**FORM, "max_environments": "many"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert 'data-error-for="max_environments"' in fragment
    assert not TeamPolicy.objects.exists() and not _policy_events().exists()


def test_only_owners_post_the_policy_form(client_for, team, viewer, outsider):
    response = client_for(viewer).post(f"/teams/{team.public_id}/policy/", FORM)
    assert response.status_code == 403 and "does not allow setting team policy" in response.content.decode()
    assert client_for(outsider).post(f"/teams/{team.public_id}/policy/", FORM).status_code == 404
    assert client_for().post(f"/teams/{team.public_id}/policy/", FORM).status_code == 302  # to the login page
    assert not TeamPolicy.objects.exists() and not _policy_events().exists()


def test_the_policy_form_needs_the_csrf_token(team, owner):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    assert client.post(f"/teams/{team.public_id}/policy/", FORM).status_code == 403
    assert not TeamPolicy.objects.exists()


def test_create_overlay_counts_against_live_environments_and_takes_the_idle_default(baseline, owner, set_policy):
    set_policy(max_environments=1, idle_delay_minutes=15)
    error = _refused(
        lambda: actions.create_overlay(actor=owner, base=baseline, source=OVERLAY), "QUOTA_EXCEEDED", "team"
    )
    assert "max_environments" in error.message
    set_policy(max_environments=2)
    overlay = actions.create_overlay(actor=owner, base=baseline, source=OVERLAY)
    assert overlay.auto_shutdown_delay_minutes == 15


def test_create_overlay_refuses_an_idle_delay_above_the_ceiling(baseline, owner, settings):
    settings.MICROSTAX_MAX_IDLE_DELAY_MINUTES = 20
    _refused(
        lambda: actions.create_overlay(actor=owner, base=baseline, source=OVERLAY + "autoShutdownDelayMinutes: 21\n"),
        "POLICY_LIMIT",
        "yaml",
    )
    assert not Environment.objects.filter(mode="overlay").exists()
