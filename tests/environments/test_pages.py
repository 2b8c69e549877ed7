"""Environment pages: list, detail, create and the action posts, for the three personas.

Most tests create environments with the action but never run its provisioning (the on-commit
callback is dropped with the test transaction), then set the state they need; only the tests that
need a real provisioning trace run it on kubesim.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from environments import actions
from environments.models import Environment, Operation, OperationStep, TeamPolicy
from environments.svg import OUTCOME_COLOURS, timeline_svg
from tests.fixtures.blueprints import SHOP_V1

STACK = """\
name: shop
services:
  - name: api
    image: ghcr.io/example/api:1.0.0
    ports: ["80:8080"]
    expose: true
"""

SVG = "{http://www.w3.org/2000/svg}"
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def make_env(team, owner, cluster):
    TeamPolicy.objects.create(team=team, max_environments=50)

    def make(name: str = "shop", *, state: str = "ready", source: str = STACK, **fields) -> Environment:
        env = actions.create_environment(actor=owner, team=team, source=source, name=name, cluster=cluster)
        Environment.objects.filter(pk=env.pk).update(state=state, **fields)
        env.services.update(status="ready", ready_replicas=1, endpoints=[f"http://api-{name}.sandbox.localhost"])
        env.refresh_from_db()
        return env

    return make


@pytest.fixture
def provisioned(team, owner, sandbox_cluster, django_capture_on_commit_callbacks) -> Environment:
    """An environment really provisioned on kubesim, with its trace."""
    with django_capture_on_commit_callbacks(execute=True):
        env = actions.create_environment(actor=owner, team=team, source=STACK, cluster=sandbox_cluster)
    env.refresh_from_db()
    assert env.state == "ready", env.state_reason
    return env


def _count_queries(fn) -> int:
    with CaptureQueriesContext(connection) as queries:
        fn()
    return len(queries)


# --- list ------------------------------------------------------------------------------------------


def test_list_shows_the_current_teams_environments_with_state_services_and_endpoints(client_for, owner, make_env):
    make_env("shop")
    make_env("cart", state="failed", state_reason="ImagePullBackOff: api")
    page = client_for(owner).get("/environments/").content.decode()
    assert 'data-state="ready"' in page and 'data-state="failed"' in page
    assert "ImagePullBackOff" in page
    assert 'data-services="1/1"' in page
    assert 'href="http://api-shop.sandbox.localhost"' in page
    assert "simulated" in page
    assert "New environment" in page


def test_list_filters_by_state_and_mode_and_hides_deleted_unless_asked(client_for, owner, make_env):
    make_env("shop")
    make_env("cart", state="stopped")
    make_env("gone", state="deleted", deleted_at=timezone.now())
    client = client_for(owner)

    def names(query: str) -> set[str]:
        return set(
            re.findall(r'data-env="env_\w+" data-state="(\w+)"', client.get(f"/environments/{query}").content.decode())
        )

    assert names("") == {"ready", "stopped"}
    assert names("?deleted=on") == {"ready", "stopped", "deleted"}
    assert names("?state=stopped") == {"stopped"}
    assert names("?state=running") == {"ready"}  # the alias
    assert names("?mode=baseline") == set()
    assert names("?mode=isolated&state=nonsense") == {"ready", "stopped"}  # bad filters are ignored


def test_list_polls_only_while_something_is_in_transition(client_for, owner, make_env):
    env = make_env("shop")
    client = client_for(owner)
    assert "hx-trigger" not in client.get("/environments/rows/").content.decode()
    Environment.objects.filter(pk=env.pk).update(state="provisioning")
    rows = client.get("/environments/rows/?mode=isolated").content.decode()
    assert 'data-polling="true"' in rows and 'hx-trigger="every 3s"' in rows
    assert 'hx-get="/environments/rows/?mode=isolated"' in rows  # the filters survive polling


def test_viewers_see_the_list_without_the_create_link_and_outsiders_see_nothing(
    client_for, viewer, outsider, other_team, make_env
):
    env = make_env("shop")
    seen = client_for(viewer).get("/environments/").content.decode()
    assert env.public_id in seen and "New environment" not in seen
    hidden = client_for(outsider).get("/environments/?deleted=on")
    assert hidden.status_code == 200 and env.public_id not in hidden.content.decode()


def test_the_navigation_points_at_the_environment_list(client_for, owner, team):
    page = client_for(owner).get("/").content.decode()
    assert 'href="/environments/"' in page


@pytest.mark.parametrize("rows", [3, 12])
def test_the_list_page_runs_a_constant_number_of_queries(
    client_for, owner, make_env, rows, django_assert_max_num_queries
):
    for i in range(rows):
        make_env(f"env-{i}")
    client = client_for(owner)
    client.get("/environments/")  # warm the session
    with django_assert_max_num_queries(LIST_QUERIES):
        assert client.get("/environments/").status_code == 200


LIST_QUERIES = 10


def test_the_list_query_count_does_not_grow_with_rows(client_for, owner, make_env):
    client = client_for(owner)
    for i in range(3):
        make_env(f"few-{i}")
    client.get("/environments/")
    few = _count_queries(lambda: client.get("/environments/"))
    for i in range(9):
        make_env(f"many-{i}")
    many = _count_queries(lambda: client.get("/environments/"))
    assert few == many <= LIST_QUERIES


def test_the_list_with_overlays_runs_a_constant_number_of_queries_and_skips_blueprints(client_for, owner, make_env):
    # given baselines with overlays: the list shows each overlay's base by name
    client = client_for(owner)
    plan = {"services": [], "local": [], "inherited": {}, "conflicts": [], "saving": {}, "effective_spec": {}}
    base = make_env("base", mode="baseline")
    make_env("ov-0", mode="overlay", parent=base, difference_plan=plan)
    client.get("/environments/")
    with CaptureQueriesContext(connection) as few:
        client.get("/environments/")
    for i in range(1, 6):
        make_env(f"ov-{i}", mode="overlay", parent=base, difference_plan=plan)
    with CaptureQueriesContext(connection) as many:
        page = client.get("/environments/").content.decode()
    # then overlays add no queries, and no row's (or base's) blueprint or plan is read
    assert len(few) == len(many) <= LIST_QUERIES
    assert page.count(base.public_id) >= 6
    sql = " ".join(q["sql"] for q in many.captured_queries)
    assert '"spec"' not in sql and '"difference_plan"' not in sql and '"source"' not in sql


# --- detail ----------------------------------------------------------------------------------------


def test_owner_sees_the_detail_with_buttons_allowed_by_the_state(client_for, owner, make_env):
    env = make_env("shop")
    page = client_for(owner).get(f"/environments/{env.public_id}/").content.decode()
    assert env.namespace in page and "simulated" in page
    assert 'data-service="api"' in page and 'href="http://api-shop.sandbox.localhost"' in page
    for action in ("stop", "delete", "scale", "extend", "idle"):
        assert f"/actions/{action}/" in page, action
    assert "/actions/resume/" not in page and "/actions/retry/" not in page
    assert "hx-confirm" in page  # delete asks first


def test_stopped_and_failed_environments_offer_resume_and_retry(client_for, owner, make_env):
    stopped, failed = make_env("a", state="stopped"), make_env("b", state="failed")
    client = client_for(owner)
    stopped_page = client.get(f"/environments/{stopped.public_id}/").content.decode()
    failed_page = client.get(f"/environments/{failed.public_id}/").content.decode()
    assert "/actions/resume/" in stopped_page and "/actions/stop/" not in stopped_page
    assert "/actions/retry/" in failed_page and "/actions/scale/" not in failed_page


def test_viewers_see_the_detail_but_no_buttons(client_for, viewer, make_env):
    env = make_env("shop")
    page = client_for(viewer).get(f"/environments/{env.public_id}/").content.decode()
    assert env.namespace in page and 'data-service="api"' in page
    assert "/actions/" not in page


@pytest.mark.parametrize("suffix", ["", "status/", "logs/?service=api"])
def test_outsiders_get_404_for_every_detail_url(client_for, outsider, other_team, make_env, suffix):
    env = make_env("shop")
    assert client_for(outsider).get(f"/environments/{env.public_id}/{suffix}").status_code == 404


def test_the_detail_page_counts_as_activity(client_for, viewer, make_env):
    env = make_env("shop", last_activity_at=timezone.now() - timedelta(hours=2))
    client_for(viewer).get(f"/environments/{env.public_id}/")
    env.refresh_from_db()
    assert timezone.now() - env.last_activity_at < timedelta(minutes=1)


def test_the_detail_status_polls_only_while_in_transition(client_for, owner, make_env):
    env = make_env("shop", state="stopping")
    client = client_for(owner)
    status = client.get(f"/environments/{env.public_id}/status/").content.decode()
    assert status.startswith('<div id="env-status"') and 'hx-trigger="every 3s"' in status
    Environment.objects.filter(pk=env.pk).update(state="stopped")
    assert "hx-trigger" not in client.get(f"/environments/{env.public_id}/status/").content.decode()


def test_the_detail_page_runs_a_constant_number_of_queries(client_for, owner, make_env, django_assert_max_num_queries):
    env = make_env("shop")
    client = client_for(owner)
    url = f"/environments/{env.public_id}/"
    client.get(url)
    one = _count_queries(lambda: client.get(url))
    # more operations, each with steps, must not add queries
    for kind in ("stop", "resume", "scale"):
        op = Operation.objects.create(environment=env, kind=kind, actor=owner, state="succeeded")
        for position, name in enumerate(("namespace", "render", "apply")):
            OperationStep.objects.create(operation=op, position=position, name=name, outcome="ok")
    with django_assert_max_num_queries(DETAIL_QUERIES):
        many = _count_queries(lambda: client.get(url))
    assert one == many


# 11, plus the Snapshots section: the environment's snapshots and the team's policy choices.
DETAIL_QUERIES = 13


def test_a_provisioned_environment_shows_ready_its_timeline_and_logs(client_for, owner, provisioned):
    client = client_for(owner)
    page = client.get(f"/environments/{provisioned.public_id}/").content.decode()
    assert 'data-state="ready"' in page
    svg = re.search(r"<svg.*?</svg>", page, re.S).group(0)
    root = ET.fromstring(svg)
    bars = root.findall(f".//{SVG}rect[@class='bar']")
    steps = list(provisioned.operations.get().steps.all())
    assert len(bars) == len(steps) > 3
    assert {g.get("data-step") for g in root.iter(f"{SVG}g") if g.get("data-step")} == {s.name for s in steps}
    logs = client.get(f"/environments/{provisioned.public_id}/logs/?service=api&lines=5", **HTMX)
    assert logs.status_code == 200 and "data-log-lines" in logs.content.decode()
    unknown = client.get(f"/environments/{provisioned.public_id}/logs/?service=ghost", **HTMX).content.decode()
    assert "Pick a service" in unknown


# --- actions ---------------------------------------------------------------------------------------

# action → (state before, form data, how to tell it worked)
ACTION_CASES = {
    "stop": ("ready", {}, lambda env: env.state == "stopping"),
    "resume": ("stopped", {}, lambda env: env.state == "resuming"),
    "retry": ("failed", {}, lambda env: env.state == "provisioning"),
    "delete": ("ready", {}, lambda env: env.state == "deleting"),
    "scale": (
        "ready",
        {"service": "api", "replicas": "3"},
        lambda env: env.state == "provisioning" and env.services.get(name="api").desired_replicas == 3,
    ),
    "extend": ("ready", {"ttl": "72h"}, lambda env: env.expires_at > timezone.now() + timedelta(hours=71)),
    "idle": (
        "ready",
        {"delay_minutes": "90"},
        lambda env: not env.auto_shutdown_enabled and env.auto_shutdown_delay_minutes == 90,
    ),
}


@pytest.mark.parametrize("action", list(ACTION_CASES))
def test_owner_actions_work_and_return_the_refreshed_fragment(client_for, owner, make_env, action):
    state, data, worked = ACTION_CASES[action]
    env = make_env("shop", state=state)
    response = client_for(owner).post(f"/environments/{env.public_id}/actions/{action}/", data, **HTMX)
    assert response.status_code == 200
    body = response.content.decode()
    assert body.startswith('<div id="env-status"') and 'data-outcome="ok"' in body, body[:400]
    env.refresh_from_db()
    assert worked(env)


@pytest.mark.parametrize("action", list(ACTION_CASES))
def test_viewer_action_posts_are_refused_and_leave_no_trace(client_for, viewer, make_env, no_trace, action):
    state, data, _ = ACTION_CASES[action]
    env = make_env("shop", state=state)
    client = client_for(viewer)
    with no_trace():
        response = client.post(f"/environments/{env.public_id}/actions/{action}/", data, **HTMX)
    assert response.status_code == 200
    assert 'data-outcome="PERMISSION_DENIED"' in response.content.decode()


@pytest.mark.parametrize("action", list(ACTION_CASES))
def test_outsider_action_posts_get_404_and_leave_no_trace(client_for, outsider, other_team, make_env, no_trace, action):
    state, data, _ = ACTION_CASES[action]
    env = make_env("shop", state=state)
    client = client_for(outsider)
    with no_trace():
        response = client.post(f"/environments/{env.public_id}/actions/{action}/", data, **HTMX)
    assert response.status_code == 404


def test_a_refused_action_shows_why_and_changes_nothing(client_for, owner, make_env, no_trace):
    env = make_env("shop", state="ready")
    client = client_for(owner)
    with no_trace():
        conflict = client.post(f"/environments/{env.public_id}/actions/resume/", **HTMX).content.decode()
        bad_input = client.post(
            f"/environments/{env.public_id}/actions/scale/", {"service": "ghost", "replicas": "2"}, **HTMX
        ).content.decode()
        bad_ttl = client.post(f"/environments/{env.public_id}/actions/extend/", {"ttl": "soon"}, **HTMX)
    assert 'data-outcome="CONFLICT"' in conflict and "cannot go to resuming" in conflict
    assert 'data-outcome="INVALID"' in bad_input and "no service &#x27;ghost&#x27;" in bad_input
    assert 'data-outcome="INVALID"' in bad_ttl.content.decode()


def test_without_htmx_an_action_redirects_back_with_a_message(client_for, owner, viewer, make_env):
    env = make_env("shop", state="ready")
    response = client_for(owner).post(f"/environments/{env.public_id}/actions/stop/", follow=True)
    assert response.redirect_chain[-1][0] == f"/environments/{env.public_id}/"
    assert "Stopping" in response.content.decode()
    refused = client_for(viewer).post(f"/environments/{env.public_id}/actions/delete/", follow=True)
    assert "does not allow" in refused.content.decode()


def test_unknown_actions_and_gets_are_refused(client_for, owner, make_env):
    env = make_env("shop")
    client = client_for(owner)
    assert client.post(f"/environments/{env.public_id}/actions/promote/").status_code == 404
    assert client.get(f"/environments/{env.public_id}/actions/stop/").status_code == 405


# --- create ----------------------------------------------------------------------------------------


def test_the_create_page_offers_versions_clusters_and_live_validation(client_for, owner, shop, cluster):
    page = client_for(owner).get("/environments/new/").content.decode()
    assert "shop v1" in page
    assert "sandbox (Sandbox (simulated by kubesim)) · simulated" in page
    assert 'hx-post="/blueprints/validate/"' in page


def test_creating_from_pasted_yaml_redirects_to_the_new_environment(client_for, owner, team, cluster):
    response = client_for(owner).post(
        "/environments/new/", {"yaml": STACK, "name": "my-shop", "ttl": "2h", "cluster": "sandbox"}
    )
    env = Environment.objects.get(team=team)
    assert response.status_code == 302 and response["Location"] == f"/environments/{env.public_id}/"
    assert (env.name, env.cluster, env.state) == ("my-shop", cluster, "pending")
    assert env.expires_at < timezone.now() + timedelta(hours=2, minutes=1)


def test_creating_from_a_published_version_records_it(client_for, owner, team, shop, cluster):
    version = shop.versions.get()
    response = client_for(owner).post("/environments/new/", {"blueprint_version": version.public_id})
    assert response.status_code == 302
    assert Environment.objects.get(team=team).blueprint_version == version


def test_invalid_yaml_shows_the_problems_and_leaves_no_trace(client_for, owner, team, cluster, no_trace):
    client = client_for(owner)
    with no_trace():
        response = client.post("/environments/new/", {"yaml": "name: x\nservices: []\n"})
        empty = client.post("/environments/new/", {"yaml": "  "})
    assert response.status_code == 400 and empty.status_code == 400
    body = response.content.decode()
    assert 'data-valid="false"' in body and "MSX-E" in body
    assert "paste blueprint YAML" in empty.content.decode()


def test_picking_a_version_and_pasting_yaml_is_refused(client_for, owner, shop, cluster, no_trace):
    with no_trace():
        response = client_for(owner).post(
            "/environments/new/", {"yaml": SHOP_V1, "blueprint_version": shop.versions.get().public_id}
        )
    assert response.status_code == 400 and "not both" in response.content.decode()


def test_viewers_cannot_create_and_their_posts_leave_no_trace(client_for, viewer, team, cluster, no_trace):
    client = client_for(viewer)
    page = client.get("/environments/new/").content.decode()
    assert "Create environment" not in page and "not create them" in page
    with no_trace():
        response = client.post("/environments/new/", {"yaml": STACK})
    assert response.status_code == 400
    assert 'data-code="PERMISSION_DENIED"' in response.content.decode()


def test_outsiders_cannot_use_another_teams_blueprint_version(
    client_for, outsider, other_team, shop, cluster, no_trace
):
    with no_trace():
        response = client_for(outsider).post("/environments/new/", {"blueprint_version": shop.versions.get().public_id})
    assert response.status_code == 400 and not Environment.objects.exists()


# --- the timeline picture --------------------------------------------------------------------------


def _steps(*specs):
    t0 = timezone.now()
    return [
        SimpleNamespace(
            name=name,
            outcome=outcome,
            started_at=t0 + timedelta(seconds=start),
            finished_at=None if end is None else t0 + timedelta(seconds=end),
        )
        for name, outcome, start, end in specs
    ]


def test_the_timeline_draws_one_bar_per_step_offset_by_start_and_sized_by_duration():
    steps = _steps(("namespace", "ok", 0, 1), ("apply", "ok", 1, 4), ("wait", "failed", 4, 10))
    root = ET.fromstring(timeline_svg(steps))
    bars = root.findall(f".//{SVG}rect[@class='bar']")
    assert len(bars) == 3
    xs = [float(b.get("x")) for b in bars]
    widths = [float(b.get("width")) for b in bars]
    assert xs[0] < xs[1] < xs[2]
    assert widths[0] < widths[1] < widths[2]
    assert abs(widths[1] / widths[0] - 3) < 0.1  # widths are proportional to durations
    assert [b.get("fill") for b in bars] == [OUTCOME_COLOURS["ok"], OUTCOME_COLOURS["ok"], OUTCOME_COLOURS["failed"]]
    axis = [t.text for t in root.findall(f".//{SVG}g[@class='axis']/{SVG}text")]
    assert axis[0] == "0s" and axis[-1] == "10s"


def test_sub_second_timelines_get_distinct_axis_labels():
    steps = _steps(("namespace", "ok", 0, 0.04), ("apply", "ok", 0.04, 0.23))
    axis = [t.text for t in ET.fromstring(timeline_svg(steps)).findall(f".//{SVG}g[@class='axis']/{SVG}text")]
    assert axis == ["0s", "0.05s", "0.1s", "0.15s", "0.2s", "0.25s"]


def test_the_timeline_escapes_step_names():
    steps = _steps(('<script>alert("x")</script> & co', "ok", 0, 1))
    svg = timeline_svg(steps)
    assert "<script>" not in svg
    root = ET.fromstring(svg)
    (group,) = [g for g in root.iter(f"{SVG}g") if g.get("data-step")]
    assert group.get("data-step") == '<script>alert("x")</script> & co'


def test_a_running_step_extends_to_now_and_an_empty_operation_still_draws():
    steps = _steps(("namespace", "ok", 0, 1), ("apply", "running", 1, None))
    now = steps[0].started_at + timedelta(seconds=5)
    root = ET.fromstring(timeline_svg(steps, now=now))
    running = root.findall(f".//{SVG}rect[@class='bar']")[1]
    assert running.get("fill") == OUTCOME_COLOURS["running"]
    assert float(running.get("width")) > 3 * float(root.findall(f".//{SVG}rect[@class='bar']")[0].get("width"))
    empty = ET.fromstring(timeline_svg([]))
    assert empty.findall(f".//{SVG}rect") == []
