"""Every service status and reason code of the difference graph."""

from __future__ import annotations

import json

from environments.planner import ReasonCode, Status, plan_overlay

from .helpers import baseline, by_name, codes, overlay, partial, port, removed, service

BASE = baseline(
    service("api", dependsOn=["db"], propagateHeader=True),
    service("db", ports=[port(5432)]),
    service("web", dependsOn=["api"], expose=True, propagateHeader=True),
)


def test_a_service_nobody_upstream_has_is_added_and_runs_locally():
    plan = plan_overlay([BASE], overlay("env_new", service("search")))

    search = by_name(plan)["search"]
    assert (search.status, search.provider) == (Status.ADDED, "env_new")
    assert search.reasons == [{"code": ReasonCode.NEW_SERVICE}]
    assert plan.local == ["search"]


def test_a_changed_service_lists_the_dotted_fields_that_differ():
    own = partial("api", image="example/api:2", env={"FLAG": "on"}, propagateHeader=True)

    plan = plan_overlay([BASE], overlay("env_new", own))

    api = by_name(plan)["api"]
    assert (api.status, api.provider) == (Status.CHANGED, "env_new")
    assert api.reasons[0] == {"code": "FIELDS_CHANGED", "fields": ["env.FLAG", "image"], "from": "env_base"}


def test_a_changed_service_says_which_fields_it_inherited_and_from_where():
    plan = plan_overlay([BASE], overlay("env_new", partial("api", image="example/api:2", propagateHeader=True)))

    api = by_name(plan)["api"]
    assert api.reasons[1] == {"code": "FIELDS_INHERITED", "fields": ["dependsOn", "ports"], "from": "env_base"}
    assert api.spec["dependsOn"] == ["db"]
    assert api.spec["ports"] == [port(8080)]


def test_a_changed_port_contract_is_reported_on_the_service_with_its_callers():
    own = service("api", ports=[port(9090, name="tcp-8080")], dependsOn=["db"], propagateHeader=True)

    plan = plan_overlay([BASE], overlay("env_new", own))

    contract = by_name(plan)["api"].reasons[-1]
    assert contract["code"] == ReasonCode.PORT_CONTRACT
    assert contract["changed"] == [
        {
            "name": "tcp-8080",
            "port": 8080,
            "protocol": "TCP",
            "now": {"name": "tcp-8080", "port": 9090, "protocol": "TCP"},
        }
    ]
    assert contract["removed"] == []
    assert contract["callers"] == ["web"]


def test_untouched_services_are_inherited_from_their_provider():
    plan = plan_overlay([BASE], overlay("env_new", service("search")))

    db = by_name(plan)["db"]
    assert (db.status, db.provider) == (Status.UNCHANGED, "env_base")
    assert db.reasons == [{"code": "INHERITED", "from": "env_base"}]
    assert plan.inherited == {"api": "env_base", "db": "env_base", "web": "env_base"}


def test_a_listed_but_identical_service_stays_inherited_with_a_warning():
    plan = plan_overlay([BASE], overlay("env_new", partial("db", image="example/db:1")))

    db = by_name(plan)["db"]
    assert (db.status, db.provider) == (Status.UNCHANGED, "env_base")
    assert codes(db) == ["INHERITED", "UNCHANGED_IN_OVERLAY"]
    assert plan.local == []


def test_a_removed_service_has_no_provider_and_no_spec():
    plan = plan_overlay([BASE], overlay("env_new", removed("web")))

    web = by_name(plan)["web"]
    assert (web.status, web.provider, web.spec) == (Status.REMOVED, "", None)
    assert web.reasons == [{"code": "REMOVED_IN_OVERLAY", "from": "env_base"}]
    assert "web" not in plan.local and "web" not in plan.inherited
    assert "web" not in {s["name"] for s in plan.effective_spec["services"]}
    assert plan.conflicts == []


def test_removing_a_service_nobody_provides_says_so():
    plan = plan_overlay([BASE], overlay("env_new", removed("ghost")))

    assert by_name(plan)["ghost"].reasons == [{"code": "REMOVED_IN_OVERLAY", "from": None}]


def test_a_caller_that_drops_the_header_is_promoted_and_names_the_change():
    base = baseline(service("api", dependsOn=["db"]), service("db"))

    plan = plan_overlay([base], overlay("env_new", partial("db", image="example/db:2")))

    api = by_name(plan)["api"]
    assert (api.status, api.provider) == (Status.PROMOTED, "env_new")
    assert [(r["code"], r["because"], r["rule"]) for r in api.reasons] == [
        ("PROMOTED_BY", "db", "no-header-propagation")
    ]
    assert "does not propagate the routing header" in api.reasons[0]["why"]
    assert api.spec == base.spec["services"][0]
    assert plan.local == ["api", "db"]


def test_services_are_sorted_and_the_plan_is_json_ready():
    plan = plan_overlay([BASE], overlay("env_new", removed("web"), service("aaa")))

    assert [s.name for s in plan.services] == ["aaa", "api", "db", "web"]
    data = plan.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["services"][0]["status"] == "added"


def test_to_dict_is_a_copy_the_caller_may_change():
    plan = plan_overlay([BASE], overlay("env_new", service("search")))

    data = plan.to_dict()
    data["effective_spec"]["services"][0]["env"]["X"] = "1"
    data["services"][0]["reasons"].clear()

    assert plan.to_dict() != data
    assert BASE.spec["services"][0]["env"] == {}
