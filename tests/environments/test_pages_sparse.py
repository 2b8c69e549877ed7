"""Baseline and overlay pages: the lineage picture, the difference graph and saving on the detail
page, the new overlay page (plan, then create), promotion, forced deletion and the grouped list,
for the three personas.

Environments are created with the actions and their provisioning is never run (the on-commit
callback is dropped with the test transaction); the tests set the states they need.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from environments import actions
from environments.models import Environment, TeamPolicy
from environments.svg import SERVICE_COLOURS, LineageRow, lineage_svg
from environments.views import grouped_by_base, reason_text
from microstax.teams import actions as team_actions
from microstax.teams.choices import Role

EXAMPLES = Path(__file__).resolve().parents[1] / "blueprints" / "examples"
# The seed script of the documented example is a repository file we do not have; the rest is as documented.
BASELINE = "\n".join(line for line in (EXAMPLES / "shop-baseline.yaml").read_text().splitlines() if "init:" not in line)
OVERLAY = (EXAMPLES / "feat-checkout-overlay.yaml").read_text().replace("  baselineId: env_base_123\n", "")
ISOLATED = """\
name: api
services:
  - name: api
    image: ghcr.io/example/api:1.0.0
    ports: ["80:8080"]
    expose: true
"""

SVG = "{http://www.w3.org/2000/svg}"
HTMX = {"HTTP_HX_REQUEST": "true"}


def overlay_yaml(key: str = "feat-checkout") -> str:
    return OVERLAY.replace("feat-checkout", key)


@pytest.fixture
def make_env(team, owner, cluster):
    TeamPolicy.objects.create(team=team, max_environments=50)

    def make(name: str, *, source: str = ISOLATED, state: str = "ready") -> Environment:
        env = actions.create_environment(actor=owner, team=team, source=source, name=name, cluster=cluster)
        Environment.objects.filter(pk=env.pk).update(state=state)
        env.services.update(status="ready", ready_replicas=1)
        env.refresh_from_db()
        return env

    return make


@pytest.fixture
def baseline(make_env) -> Environment:
    env = make_env("shop", source=BASELINE)
    assert env.mode == "baseline"
    return env


@pytest.fixture
def make_overlay(baseline, owner):
    def make(key: str = "feat-checkout", *, base: Environment | None = None, state: str = "ready") -> Environment:
        env = actions.create_overlay(actor=owner, base=base or baseline, source=overlay_yaml(key))
        Environment.objects.filter(pk=env.pk).update(state=state)
        env.refresh_from_db()
        return env

    return make


@pytest.fixture
def developer(make_user, team, owner):
    """A member who may use environments but not manage baselines."""
    user = make_user("dev")
    team_actions.add_team_member(actor=owner, team=team, username=user.username, role=Role.DEVELOPER)
    return user


def _count_queries(fn) -> int:
    with CaptureQueriesContext(connection) as queries:
        fn()
    return len(queries)


def _svg(page: str, css_class: str) -> ET.Element:
    match = re.search(rf'<svg[^>]*class="{css_class}".*?</svg>', page, re.S)
    assert match, f"no svg.{css_class} in the page"
    return ET.fromstring(match.group(0))


# --- the overlay's detail page ---------------------------------------------------------------------


def test_an_overlay_shows_its_lineage_difference_graph_and_saving(client_for, owner, baseline, make_overlay):
    overlay = make_overlay()
    page = client_for(owner).get(f"/environments/{overlay.public_id}/").content.decode()

    # the lineage: baseline then overlay, one dot per service in its provider's column
    root = _svg(page, "lineage")
    layers = [g for g in root.iter(f"{SVG}g") if g.get("data-env")]
    assert [(g.get("data-env"), g.get("data-mode")) for g in layers] == [
        (baseline.public_id, "baseline"),
        (overlay.public_id, "overlay"),
    ]
    services = {g.get("data-service"): g for g in root.iter(f"{SVG}g") if g.get("data-service")}
    assert services["checkout"].get("data-status") == "changed" and services["checkout"].get("data-column") == "1"
    assert services["payments"].get("data-status") == "unchanged" and services["payments"].get("data-column") == "0"

    # the difference graph, in plain words
    assert 'data-plan-service="checkout" data-plan-status="changed"' in page
    assert 'data-plan-service="storefront" data-plan-status="promoted"' in page
    assert "image changed" in page or "expose, image and propagateHeader changed" in page
    assert "promoted: calls checkout and does not propagate the header" in page
    assert "inherited from shop" in page

    # the saving: 7 pods for a full clone, 2 in the overlay
    saving = dict(re.findall(r'data-saving="(\w+)" data-percent="(\d+)"', page))
    assert saving == {"pods": "71", "cpu_millicores": "43", "memory_mib": "43"}
    assert "<td>7</td><td>2</td>" in page
    # an overlay is not promoted and offers no New overlay button before it is its own base
    assert "/promote/" not in page


def test_a_baseline_lists_its_overlays_and_offers_a_new_one(client_for, owner, viewer, baseline, make_overlay):
    first, second = make_overlay("feat-a"), make_overlay("feat-b", state="provisioning")
    page = client_for(owner).get(f"/environments/{baseline.public_id}/").content.decode()
    rows = re.findall(r'data-overlay="(env_\w+)" data-state="(\w+)"', page)
    assert set(rows) == {(first.public_id, "ready"), (second.public_id, "provisioning")}
    assert "<code>feat-a</code>" in page and f'href="/environments/{first.public_id}/"' in page
    assert f'href="/environments/{baseline.public_id}/overlays/new/"' in page
    assert "checkout, storefront" in page  # what each overlay runs itself
    root = _svg(page, "lineage")
    assert len([g for g in root.iter(f"{SVG}g") if g.get("data-env")]) == 1
    assert {g.get("data-status") for g in root.iter(f"{SVG}g") if g.get("data-service")} == {"local"}

    seen = client_for(viewer).get(f"/environments/{baseline.public_id}/").content.decode()
    assert first.public_id in seen and "/overlays/new/" not in seen


def test_the_overlays_of_a_baseline_that_is_not_ready_cannot_be_started_yet(client_for, owner, make_env):
    baseline = make_env("shop", source=BASELINE, state="provisioning")
    page = client_for(owner).get(f"/environments/{baseline.public_id}/").content.decode()
    assert "/overlays/new/" not in page and "once shop is ready" in page


@pytest.mark.parametrize("page_of", ["overlay", "baseline"])
def test_the_detail_page_runs_as_many_queries_with_one_overlay_as_with_three(
    client_for, owner, baseline, make_overlay, page_of
):
    overlay = make_overlay("feat-a")
    client = client_for(owner)
    url = f"/environments/{(overlay if page_of == 'overlay' else baseline).public_id}/"
    client.get(url)
    one = _count_queries(lambda: client.get(url))
    make_overlay("feat-b")
    make_overlay("feat-c")
    three = _count_queries(lambda: client.get(url))
    assert one == three <= SPARSE_DETAIL_QUERIES, (one, three)


# 13, plus the Snapshots section: the environment's snapshots and the team's policy choices.
SPARSE_DETAIL_QUERIES = 15


# --- the list --------------------------------------------------------------------------------------


def test_the_list_shows_overlays_indented_under_their_baseline(client_for, owner, baseline, make_overlay, make_env):
    first = make_overlay("feat-a")
    lone = make_env("lone")  # created after the overlay: newest first would put it between
    second = make_overlay("feat-b")
    page = client_for(owner).get("/environments/").content.decode()
    rows = re.findall(r'data-env="(env_\w+)" data-state="\w+" data-depth="(\d)"', page)
    assert rows == [
        (lone.public_id, "0"),
        (baseline.public_id, "0"),
        (second.public_id, "1"),
        (first.public_id, "1"),
    ]
    assert '<code class="small">feat-a</code>' in page
    # filtered to overlays only, they stay top-level rows and name their base
    overlays_only = client_for(owner).get("/environments/?mode=overlay").content.decode()
    assert re.findall(r'data-depth="(\d)"', overlays_only) == ["0", "0"] and "of shop" in overlays_only


def test_grouping_survives_a_parent_cycle():
    a, b = Environment(pk=1, parent_id=2), Environment(pk=2, parent_id=1)
    assert [e.pk for e in grouped_by_base([a, b])] == [1, 2]


# --- the new overlay page --------------------------------------------------------------------------


def test_the_new_overlay_page_offers_plan_and_create_to_the_owner(client_for, owner, baseline):
    page = client_for(owner).get(f"/environments/{baseline.public_id}/overlays/new/").content.decode()
    assert 'hx-vals=\'{"intent": "plan"}\'' in page and 'hx-target="#plan"' in page
    assert "Create overlay" in page and "inherited from shop" in page


def test_viewers_may_plan_but_not_create(client_for, viewer, baseline, no_trace):
    client = client_for(viewer)
    page = client.get(f"/environments/{baseline.public_id}/overlays/new/").content.decode()
    assert "Create overlay" not in page and "plan overlays, not create them" in page
    with no_trace():
        planned = client.post(
            f"/environments/{baseline.public_id}/overlays/new/", {"yaml": OVERLAY, "intent": "plan"}, **HTMX
        )
        created = client.post(f"/environments/{baseline.public_id}/overlays/new/", {"yaml": OVERLAY})
    assert planned.status_code == 200 and 'data-plan-status="changed"' in planned.content.decode()
    assert created.status_code == 400 and 'data-code="PERMISSION_DENIED"' in created.content.decode()


@pytest.mark.parametrize("intent", ["plan", "create"])
def test_outsiders_get_404_from_the_new_overlay_page_and_leave_no_trace(
    client_for, outsider, other_team, baseline, no_trace, intent
):
    client = client_for(outsider)
    url = f"/environments/{baseline.public_id}/overlays/new/"
    assert client.get(url).status_code == 404
    with no_trace():
        assert client.post(url, {"yaml": OVERLAY, "intent": intent}, **HTMX).status_code == 404


def test_plan_is_a_dry_run_showing_the_difference_graph_and_saving(client_for, owner, baseline, no_trace):
    client = client_for(owner)
    with no_trace():
        response = client.post(
            f"/environments/{baseline.public_id}/overlays/new/",
            {"yaml": OVERLAY, "name": "", "ttl": "8h", "intent": "plan"},
            **HTMX,
        )
    body = response.content.decode()
    assert response.status_code == 200 and body.startswith('<div id="plan"') and 'data-blocked="false"' in body
    assert "<html" not in body  # the fragment alone
    assert 'data-plan-service="checkout" data-plan-status="changed"' in body
    assert 'data-plan-service="cart" data-plan-status="unchanged"' in body
    assert "runs checkout, storefront" in body and "71% of the pods saved" in body
    root = _svg(body, "lineage")
    layers = [g for g in root.iter(f"{SVG}g") if g.get("data-env")]
    assert [g.get("data-state") for g in layers] == ["ready", "planned"]
    # without htmx, the whole page comes back with the plan in it
    with no_trace():
        full = client.post(f"/environments/{baseline.public_id}/overlays/new/", {"yaml": OVERLAY, "intent": "plan"})
    assert "<html" in full.content.decode() and 'data-plan-status="changed"' in full.content.decode()


def test_plan_reports_conflicts_and_invalid_yaml(client_for, owner, baseline, make_overlay, no_trace):
    make_overlay()  # takes the feat-checkout routing key
    client = client_for(owner)
    url = f"/environments/{baseline.public_id}/overlays/new/"
    missing = overlay_yaml("feat-x").replace("    expose: true", "    expose: true\n    dependsOn: [ghost]")
    with no_trace():
        taken = client.post(url, {"yaml": OVERLAY, "name": "other", "intent": "plan"}, **HTMX).content.decode()
        ghost = client.post(url, {"yaml": missing, "intent": "plan"}, **HTMX).content.decode()
        invalid = client.post(url, {"yaml": "name: x\nservices: 3\n", "intent": "plan"}, **HTMX).content.decode()
        empty = client.post(url, {"yaml": "", "intent": "plan"}, **HTMX)
    assert 'data-blocked="true"' in taken and 'data-conflict="OVERLAY_ID_TAKEN"' in taken
    assert 'data-conflict="MISSING_DEPENDENCY"' in ghost or 'data-code="INVALID_BLUEPRINT"' in ghost
    assert "ghost" in ghost
    assert 'data-code="INVALID_BLUEPRINT"' in invalid and 'data-valid="false"' in invalid
    assert empty.status_code == 200 and "Paste the overlay" in empty.content.decode()  # htmx swaps 2xx only
    assert client.post(url, {"yaml": "", "intent": "plan"}).status_code == 400  # the page, with the field error


def test_creating_an_overlay_redirects_to_its_detail(client_for, owner, baseline):
    response = client_for(owner).post(
        f"/environments/{baseline.public_id}/overlays/new/", {"yaml": OVERLAY, "name": "my-change", "ttl": "8h"}
    )
    overlay = Environment.objects.get(mode="overlay")
    assert response.status_code == 302 and response["Location"] == f"/environments/{overlay.public_id}/"
    assert (overlay.parent, overlay.name, overlay.routing_key) == (baseline, "my-change", "feat-checkout")
    assert overlay.difference_plan["local"] == ["checkout", "storefront"]


def test_a_conflicting_create_shows_the_report_and_creates_nothing(client_for, owner, baseline, make_overlay, no_trace):
    make_overlay()
    client = client_for(owner)
    with no_trace():
        response = client.post(f"/environments/{baseline.public_id}/overlays/new/", {"yaml": OVERLAY, "name": "again"})
    body = response.content.decode()
    assert response.status_code == 400
    assert 'data-code="OVERLAY_CONFLICT"' in body and 'data-conflict="OVERLAY_ID_TAKEN"' in body
    assert OVERLAY.splitlines()[1] in body  # the pasted YAML is kept for the next try


def test_an_overlay_of_a_base_that_is_not_ready_is_refused(client_for, owner, make_env, no_trace):
    baseline = make_env("shop", source=BASELINE, state="failed")  # (a stopped one is woken: test_wake_first.py)
    with no_trace():
        response = client_for(owner).post(f"/environments/{baseline.public_id}/overlays/new/", {"yaml": OVERLAY})
    assert response.status_code == 400 and 'data-conflict="BASE_NOT_READY"' in response.content.decode()


def test_an_isolated_environment_is_not_a_base(client_for, owner, make_env, no_trace):
    env = make_env("lone")
    client = client_for(owner)
    page = client.get(f"/environments/{env.public_id}/overlays/new/").content.decode()
    assert "Promote it to a baseline first" in page
    with no_trace():
        response = client.post(f"/environments/{env.public_id}/overlays/new/", {"yaml": OVERLAY})
    assert response.status_code == 400 and 'data-code="OVERLAY_CONFLICT"' in response.content.decode()


# --- promote ---------------------------------------------------------------------------------------


def test_the_owner_promotes_a_ready_isolated_environment(client_for, owner, make_env):
    env = make_env("lone")
    client = client_for(owner)
    assert f"/environments/{env.public_id}/promote/" in client.get(f"/environments/{env.public_id}/").content.decode()
    response = client.post(f"/environments/{env.public_id}/promote/", **HTMX)
    body = response.content.decode()
    assert body.startswith('<div id="env-status"') and 'data-outcome="ok"' in body
    env.refresh_from_db()
    assert env.mode == "baseline"
    assert "/promote/" not in body and "/overlays/new/" in body  # now a base, with its overlays card


@pytest.mark.parametrize("who", ["viewer", "developer"])
def test_members_without_the_baseline_role_see_no_promote_button_and_are_refused(
    client_for, make_env, no_trace, who, request
):
    env = make_env("lone")
    client = client_for(request.getfixturevalue(who))
    assert "/promote/" not in client.get(f"/environments/{env.public_id}/").content.decode()
    with no_trace():
        response = client.post(f"/environments/{env.public_id}/promote/", **HTMX)
    assert 'data-outcome="PERMISSION_DENIED"' in response.content.decode()


def test_outsiders_get_404_when_promoting(client_for, outsider, other_team, make_env, no_trace):
    env = make_env("lone")
    with no_trace():
        assert client_for(outsider).post(f"/environments/{env.public_id}/promote/", **HTMX).status_code == 404


def test_a_refused_promotion_shows_why_and_changes_nothing(client_for, owner, make_env, no_trace):
    unpinned = make_env("latest", source=ISOLATED.replace("api:1.0.0", "api:latest"))
    stopped = make_env("stopped", state="stopped")
    client = client_for(owner)
    assert "/promote/" not in client.get(f"/environments/{stopped.public_id}/").content.decode()
    with no_trace():
        refused = client.post(f"/environments/{unpinned.public_id}/promote/", **HTMX).content.decode()
        not_ready = client.post(f"/environments/{stopped.public_id}/promote/", follow=True).content.decode()
    assert 'data-outcome="UNPINNED_IMAGES"' in refused and "not pinned: api (ghcr.io/example/api:latest)" in refused
    assert "only ready environments are promoted" in not_ready


# --- deleting a baseline with overlays -------------------------------------------------------------


def test_deleting_a_baseline_with_overlays_needs_force_from_the_page(
    client_for, owner, viewer, baseline, make_overlay, no_trace
):
    overlay = make_overlay()
    client = client_for(owner)
    page = client.get(f"/environments/{baseline.public_id}/").content.decode()
    assert 'name="force"' in page and "with its 1 overlay" in page
    url = f"/environments/{baseline.public_id}/actions/delete/"
    with no_trace():
        refused = client.post(url, **HTMX).content.decode()
        by_viewer = client_for(viewer).post(url, {"force": "on"}, **HTMX).content.decode()
    assert 'data-outcome="HAS_DEPENDANTS"' in refused and "1 live overlay(s) derive from this environment" in refused
    assert 'data-outcome="PERMISSION_DENIED"' in by_viewer

    forced = client.post(url, {"force": "on"}, **HTMX).content.decode()
    assert 'data-outcome="ok"' in forced and "with every overlay" in forced
    states = dict(Environment.objects.values_list("public_id", "state"))
    assert states[baseline.public_id] == states[overlay.public_id] == "deleting"


def test_an_isolated_environment_offers_no_force(client_for, owner, make_env):
    env = make_env("lone")
    page = client_for(owner).get(f"/environments/{env.public_id}/").content.decode()
    assert 'name="force"' not in page and 'id="lineage"' not in page


# --- reasons in plain words ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reason, words",
    [
        ({"code": "NEW_SERVICE"}, "new service"),
        ({"code": "FIELDS_CHANGED", "fields": ["image"], "from": "env_b"}, "image changed"),
        ({"code": "FIELDS_CHANGED", "fields": ["env", "image", "ports"]}, "env, image and ports changed"),
        ({"code": "FIELDS_INHERITED", "fields": ["env", "ports"], "from": "env_b"}, "keeps env and ports from shop"),
        (
            {"code": "PROMOTED_BY", "because": "checkout", "rule": "no-header-propagation", "why": "…"},
            "promoted: calls checkout and does not propagate the header",
        ),
        ({"code": "PROMOTED_BY", "because": "x", "rule": "new-rule", "why": "it must"}, "promoted: it must"),
        ({"code": "INHERITED", "from": "env_b"}, "inherited from shop"),
        ({"code": "REMOVED_IN_OVERLAY", "from": "env_b"}, "removed (was from shop)"),
        ({"code": "REMOVED_IN_OVERLAY", "from": None}, "removed"),
        (
            {"code": "PORT_CONTRACT", "changed": [{"name": "http", "port": 80}], "removed": [], "callers": ["web"]},
            "ports http changed (called by web)",
        ),
        ({"code": "SOMETHING_NEW"}, "SOMETHING_NEW"),
    ],
)
def test_reasons_read_as_plain_words(reason, words):
    assert reason_text(reason, {"env_b": "shop"}) == words


# --- the lineage picture ---------------------------------------------------------------------------


def _layer(public_id: str, name: str, mode: str, state: str = "ready", key: str = ""):
    return Environment(public_id=public_id, name=name, mode=mode, state=state, routing_key=key)


CHAIN = [
    _layer("env_base", "shop", "baseline"),
    _layer("env_team", "team-x", "overlay", key="team-x"),
    _layer("env_mine", "feat-y", "overlay", state="provisioning", key="feat-y"),
]


def test_the_lineage_has_one_column_per_layer_and_a_dot_in_each_providers_column():
    rows = [
        LineageRow("cart", "env_base", "unchanged"),
        LineageRow("checkout", "env_team", "unchanged"),
        LineageRow("storefront", "env_mine", "promoted"),
        LineageRow("search", "env_mine", "added"),
        LineageRow("legacy", "", "removed"),
    ]
    root = ET.fromstring(lineage_svg(CHAIN, rows))
    layers = [g for g in root.iter(f"{SVG}g") if g.get("data-env")]
    assert [(g.get("data-env"), g.get("data-column")) for g in layers] == [
        ("env_base", "0"),
        ("env_team", "1"),
        ("env_mine", "2"),
    ]
    guides = root.findall(f".//{SVG}line[@class='guide']")
    assert len(guides) == 3
    centres = [float(line.get("x1")) for line in guides]
    assert centres == sorted(centres)
    services = {g.get("data-service"): g for g in root.iter(f"{SVG}g") if g.get("data-service")}
    for name, column in (("cart", 0), ("checkout", 1), ("storefront", 2), ("search", 2)):
        dot = services[name].find(f"{SVG}circle")
        assert float(dot.get("cx")) == centres[column], name
    # inherited services reach the last column through a bar; highlighted ones are labelled
    assert services["cart"].find(f"{SVG}line[@class='bar']") is not None
    assert services["storefront"].find(f"{SVG}line[@class='bar']") is None
    assert services["storefront"].find(f"{SVG}text[@class='status']").text == "promoted"
    assert services["search"].find(f"{SVG}circle").get("fill") == SERVICE_COLOURS["added"]
    assert services["cart"].find(f"{SVG}text[@class='status']") is None
    # removed: struck out, a cross in the last column, no dot
    legacy = services["legacy"]
    assert legacy.find(f"{SVG}text").get("text-decoration") == "line-through"
    assert legacy.find(f"{SVG}circle") is None and legacy.find(f"{SVG}path[@class='cross']") is not None
    # the box states are coloured and written
    assert [g.get("data-state") for g in layers] == ["ready", "ready", "provisioning"]


def test_the_lineage_escapes_every_text():
    evil = '<script>alert("x")</script> & co'
    chain = [_layer("env_<b>", evil, "baseline", state="<ready>", key='k"&')]
    svg = lineage_svg(chain, [LineageRow(evil, "env_<b>", "<changed>")])
    assert "<script>" not in svg and "<b>" not in svg
    root = ET.fromstring(svg)
    (service,) = [g for g in root.iter(f"{SVG}g") if g.get("data-service")]
    assert service.get("data-service") == evil and service.get("data-status") == "<changed>"
    (layer,) = [g for g in root.iter(f"{SVG}g") if g.get("data-env")]
    assert layer.get("data-env") == "env_<b>"
    assert any(evil[:20] in (t.text or "") for t in layer.iter(f"{SVG}text"))


def test_the_lineage_draws_empty_input_and_unknown_providers():
    assert ET.fromstring(lineage_svg([], [])).findall(f".//{SVG}circle") == []
    root = ET.fromstring(lineage_svg(CHAIN[:1], [LineageRow("api", "env_elsewhere", "inherited")]))
    (service,) = [g for g in root.iter(f"{SVG}g") if g.get("data-service")]
    assert service.get("data-column") == "0"  # outside the chain: drawn in the last column
