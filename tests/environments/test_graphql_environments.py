"""Every environment mutation against the three personas, and the list query's SQL count."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from environments import actions
from environments.models import Environment
from tests.environments.test_lifecycle import STACK

MUTATIONS = {
    "updateEnvironment": 'updateEnvironment(input: {id: $id, yaml: "name: shop\\nservices:\\n  - name: db\\n'
    '    image: postgres:16.3\\n"})',
    "stopEnvironment": "stopEnvironment(input: {id: $id})",
    "resumeEnvironment": "resumeEnvironment(input: {id: $id})",
    "retryEnvironment": "retryEnvironment(input: {id: $id})",
    "deleteEnvironment": "deleteEnvironment(input: {id: $id})",
    "scaleService": 'scaleService(input: {id: $id, service: "api", replicas: 2})',
    "extendEnvironment": 'extendEnvironment(input: {id: $id, ttl: "24h"})',
    "setAutoShutdown": "setAutoShutdown(input: {id: $id, enabled: false})",
}


@pytest.fixture
def env(team, owner, sandbox_cluster, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return actions.create_environment(actor=owner, team=team, source=STACK)


def _call(gql, name: str, env_id: str, **credentials) -> dict:
    query = f"mutation($id: ID!) {{ {MUTATIONS[name]} {{ environment {{ state }} errors {{ code message }} }} }}"
    return gql(query, {"id": env_id}, **credentials)["data"][name.split("(")[0]]


@pytest.mark.parametrize("name", MUTATIONS)
@pytest.mark.parametrize(("persona", "code"), [("viewer", "PERMISSION_DENIED"), ("outsider", "NOT_FOUND")])
def test_viewers_and_outsiders_are_refused_every_mutation_without_trace(
    gql, env, request, other_team, no_trace, name, persona, code
):
    user = request.getfixturevalue(persona)
    token = gql.token_for(user)
    gql("{ viewer { username } }", token=token)
    with no_trace():
        result = _call(gql, name, env.public_id, token=token)
    assert result["errors"][0]["code"] == code and result["environment"] is None


@pytest.mark.parametrize(
    "name",
    [
        "extendEnvironment",
        "setAutoShutdown",
        "scaleService",
        "stopEnvironment",
        "deleteEnvironment",
        "updateEnvironment",
    ],
)
def test_the_owner_runs_them(gql, env, owner, name, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        result = _call(gql, name, env.public_id, user=owner)
    assert result["errors"] == [], result


def test_states_guard_mutations_with_a_conflict(gql, env, owner, no_trace):
    with no_trace():
        result = _call(gql, "resumeEnvironment", env.public_id, user=owner)
    assert result["errors"][0]["code"] == "CONFLICT" and "ready" in result["errors"][0]["message"]


def test_environments_query_count_is_constant(
    gql, team, owner, sandbox_cluster, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    query = (
        "{ environments { totalCount edges { node { id name state team { slug } cluster { name simulated } "
        "services { name status endpoints providedBy } operations(last: 2) { kind state steps { name } } } } } }"
    )
    gql("{ environments { totalCount } }", user=owner)  # warm: session, permission content types
    counts = []
    for n in (2, 6):
        while Environment.objects.count() < n:
            with django_capture_on_commit_callbacks(execute=True):
                actions.create_environment(
                    actor=owner, team=team, source=STACK, name=f"shop-{Environment.objects.count()}"
                )
        with django_assert_max_num_queries(12) as captured:
            data = gql(query, user=owner)["data"]["environments"]
        counts.append(len(captured))
        assert data["totalCount"] == n
    assert counts[0] == counts[1], counts


def overlay_rows(base: Environment, count: int) -> None:
    """``count`` more overlay rows of ``base`` (not provisioned: lists only read the database), each
    with a blueprint and a difference graph, as overlays have."""
    for _ in range(count):
        n = Environment.objects.count()
        row = actions.create_environment(actor=base.created_by, team=base.team, source=STACK, name=f"ov-{n}")
        plan = {"services": [], "local": [], "inherited": {}, "conflicts": [], "saving": {}, "effective_spec": {}}
        Environment.objects.filter(pk=row.pk).update(parent=base, mode="overlay", difference_plan=plan)


def _queries(gql, query: str, user) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        result = gql(query, user=user)
    assert "errors" not in result, result
    return [q["sql"] for q in captured.captured_queries]


LIST_WITH_PARENTS = (
    "{ environments { totalCount edges { node { id parentId services { name providedBy } "
    "operations(last: 1) { kind requestedBy } } } } }"
)


def test_overlays_add_no_queries_to_the_environments_query(gql, env, owner):
    gql("{ environments { totalCount } }", user=owner)  # warm: session, permission content types
    overlay_rows(env, 2)
    few = _queries(gql, LIST_WITH_PARENTS, owner)
    overlay_rows(env, 6)
    many = _queries(gql, LIST_WITH_PARENTS, owner)
    assert len(few) == len(many), many


def test_the_environments_query_leaves_what_it_does_not_show_in_the_database(gql, env, owner):
    # given overlays, whose blueprints and difference graphs are the largest columns
    overlay_rows(env, 3)
    gql("{ environments { totalCount } }", user=owner)  # warm: session, permission content types
    # when the list asks for neither
    sql = " ".join(_queries(gql, LIST_WITH_PARENTS, owner))
    # then neither is read, nor the steps of the operations
    assert '"environments_environment"."spec"' not in sql
    assert '"environments_environment"."difference_plan"' not in sql
    assert "environments_operationstep" not in sql


def test_selecting_blueprints_and_plans_reads_them_with_the_rows(gql, env, owner):
    overlay_rows(env, 3)
    gql("{ environments { totalCount } }", user=owner)  # warm: session, permission content types
    plain = _queries(gql, LIST_WITH_PARENTS, owner)
    rich = "{ environments { edges { node { id parentId spec plan { local } cost { currency } "
    rich += "services { name providedBy } operations(last: 1) { kind requestedBy steps { name } } } } } }"
    queries = _queries(gql, rich, owner)
    # one more: the steps; the spec and plan columns come with the rows, not one query per row
    assert len(queries) == len(plain) + 1
    nodes = gql(rich, user=owner)["data"]["environments"]["edges"]
    assert all(n["node"]["spec"]["name"] for n in nodes)
    assert sum(1 for n in nodes if n["node"]["plan"] is not None) == 3


def test_state_filter_accepts_client_aliases(gql, env, owner):
    running = gql('{ environments(state: "running") { totalCount } }', user=owner)["data"]["environments"]
    assert running["totalCount"] == 1
    bad = gql('{ environments(state: "sleeping") { totalCount } }', user=owner)
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


def test_every_error_code_the_actions_raise_has_a_graphql_code():
    import re
    from pathlib import Path

    from environments.graphql.types import EnvironmentErrorCode
    from microstax.lib import errors

    root = Path(__file__).resolve().parents[2]
    sources = "".join(p.read_text() for p in (root / "environments" / "actions").glob("*.py"))
    raised = set(re.findall(r'code="([A-Z_]+)"', sources))
    raised |= {
        cls.code for cls in vars(errors).values() if isinstance(cls, type) and issubclass(cls, errors.DomainError)
    }
    raised |= {"INVALID_BLUEPRINT"}
    assert raised <= set(EnvironmentErrorCode.__members__), raised - set(EnvironmentErrorCode.__members__)


def test_one_environment_reads_only_its_newest_operations(gql, env, owner, client_for, django_assert_max_num_queries):
    """A long history (here 150 more operations with a step each) is not loaded to show a few: the
    query asks the database for the newest `last`, and the page for the newest OPERATIONS_MAX."""
    from environments.graphql.types import OPERATIONS_MAX
    from environments.models import Operation, OperationStep

    # given: a long-lived environment
    for i in range(150):
        operation = Operation.objects.create(environment=env, kind="reconcile", actor=owner, state="succeeded")
        OperationStep.objects.create(operation=operation, position=0, name=f"step-{i}", outcome="succeeded")
    newest = list(env.operations.order_by("-created_at", "-pk").values_list("public_id", flat=True)[:3])

    # when: `env wait`'s progress query
    query = "query($id: ID!) { environment(id: $id) { state operations(last: 3) { id steps { name } } } }"
    gql(query, {"id": env.public_id}, user=owner)  # warm
    with CaptureQueriesContext(connection) as captured:
        data = gql(query, {"id": env.public_id}, user=owner)["data"]["environment"]

    # then: the newest three, and no query reads more operation rows than asked for
    assert [op["id"] for op in data["operations"]] == newest
    operation_reads = [q["sql"] for q in captured.captured_queries if 'FROM "environments_operation"' in q["sql"]]
    assert operation_reads and all("LIMIT 3" in sql for sql in operation_reads), operation_reads

    # and the page shows the newest OPERATIONS_MAX of 151
    page = client_for(owner).get(f"/environments/{env.public_id}/")
    assert page.content.decode().count("data-operation=") == OPERATIONS_MAX
