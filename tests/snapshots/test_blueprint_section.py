"""The blueprint ``snapshot:`` section beyond ``id`` and ``fromEnvironment``: a ``policy`` (or
inline ``rules``/``tables``, published as a team policy version) makes provisioning restore a
snapshot captured under exactly that policy — captured first when there is none — and the options
MicroStax does not honour are refused by validation, located, instead of being ignored."""

from __future__ import annotations

import hashlib

import pytest

from blueprints.validation import validate_blueprint
from environments import actions as env_actions
from microstax.teams import actions as team_actions
from microstax.teams.choices import Role
from snapshots.models import SanitizationPolicy, Snapshot, SnapshotRestore, SnapshotState
from tests.blueprints.helpers import one
from tests.snapshots.conftest import STACK

POLICY = """\
name: shop-dev
salt: test-salt-0123456789
rules:
  - {table: customers, column: email, strategy: fake, kind: email}
"""


@pytest.fixture
def env(provision, owner, team):
    return provision(owner, team)


def _section(**fields: str) -> str:
    return STACK + "snapshot:\n  service: db\n" + "".join(f"  {key}: {value}\n" for key, value in fields.items())


# --- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "value"), [("sourceSecret", "prod-db"), ("storage", "s3")])
def test_options_microstax_does_not_honour_are_refused_where_they_are_written(key, value):
    result = validate_blueprint(_section(fromEnvironment="env_abc", **{key: value}))
    problem = one(result, "MSX-E031")
    assert problem.path == f"snapshot.{key}" and problem.line == STACK.count("\n") + 4
    assert "not supported" in problem.message


def test_capture_options_with_an_id_are_refused():
    result = validate_blueprint(_section(id="snap_abc", policy="shop-dev"))
    problem = one(result, "MSX-E026")
    assert problem.path == "snapshot.policy" and "already captured" in problem.message


def test_a_policy_and_inline_rules_together_are_refused():
    source = _section(fromEnvironment="env_abc", policy="shop-dev") + (
        "  rules:\n    - {table: customers, column: email, strategy: redact}\n"
    )
    problem = one(validate_blueprint(source), "MSX-E026")
    assert problem.path == "snapshot.rules" and "give one of them" in problem.message


def test_policy_and_inline_rules_with_from_environment_are_valid():
    assert validate_blueprint(_section(fromEnvironment="env_abc", policy="shop-dev")).valid
    inline = (
        _section(fromEnvironment="env_abc") + "  rules:\n    - {table: customers, column: email, strategy: redact}\n"
    )
    assert validate_blueprint(inline).valid


# --- provisioning ------------------------------------------------------------------------------


@pytest.fixture
def published(team, owner) -> SanitizationPolicy:
    return SanitizationPolicy.objects.create(
        team=team,
        name="shop-dev",
        version=1,
        source=POLICY,
        content_hash=hashlib.sha256(POLICY.encode()).hexdigest(),
        created_by=owner,
    )


def _create(actor, team, source: str, capture) -> object:
    with capture(execute=True):
        env = env_actions.create_environment(actor=actor, team=team, source=source, name="shop-seeded")
    env.refresh_from_db()
    return env


def test_a_ready_snapshot_under_the_policy_is_restored_without_a_new_capture(
    env, owner, team, published, make_snapshot, django_capture_on_commit_callbacks
):
    other = make_snapshot(env)  # under no policy: not what the blueprint asks for
    wanted = make_snapshot(env, policy=published, policy_name="shop-dev")
    assert other.pk != wanted.pk
    copy = _create(
        owner, team, _section(fromEnvironment=env.public_id, policy="shop-dev"), django_capture_on_commit_callbacks
    )
    assert SnapshotRestore.objects.get(environment=copy).snapshot == wanted
    assert Snapshot.objects.count() == 2  # nothing captured


def test_without_a_snapshot_under_the_policy_one_is_captured_first(
    env, owner, team, published, make_snapshot, django_capture_on_commit_callbacks
):
    make_snapshot(env)  # a ready snapshot, but not under the policy
    copy = _create(
        owner, team, _section(fromEnvironment=env.public_id, policy="shop-dev"), django_capture_on_commit_callbacks
    )
    captured = Snapshot.objects.get(policy=published)
    assert (captured.environment, captured.service, captured.created_by) == (env, "db", owner)
    # the sandbox runs no agent: the capture fails, and provisioning says so instead of restoring stale data
    assert captured.state == SnapshotState.FAILED
    assert copy.state == "failed"
    assert f"the capture {captured.public_id} of {env.public_id} is failed" in copy.state_reason
    assert "simulated" in copy.state_reason
    assert not SnapshotRestore.objects.filter(environment=copy).exists()


def test_an_unknown_policy_fails_provisioning_with_the_reason(env, owner, team, django_capture_on_commit_callbacks):
    copy = _create(
        owner, team, _section(fromEnvironment=env.public_id, policy="nope"), django_capture_on_commit_callbacks
    )
    assert copy.state == "failed"
    assert "'nope' is not a published sanitization policy of team 'payments'" in copy.state_reason


INLINE = "  rules:\n    - {table: customers, column: email, strategy: fake, kind: email}\n"


def test_inline_rules_are_published_as_a_team_policy_version_and_captured_under_it(
    env, owner, team, django_capture_on_commit_callbacks
):
    _create(owner, team, _section(fromEnvironment=env.public_id) + INLINE, django_capture_on_commit_callbacks)
    policy = SanitizationPolicy.objects.get(name="bp-shop")
    assert policy.team == team and policy.strict and policy.version == 1
    assert "strategy: fake" in policy.source
    assert Snapshot.objects.get(policy=policy).environment == env
    # the same rules again reuse that version
    with django_capture_on_commit_callbacks(execute=True):
        env_actions.create_environment(
            actor=owner, team=team, source=_section(fromEnvironment=env.public_id) + INLINE, name="shop-again"
        )
    assert SanitizationPolicy.objects.filter(name="bp-shop").count() == 1


def test_inline_rules_need_someone_who_may_publish_policies(
    env, owner, team, make_user, django_capture_on_commit_callbacks
):
    make_user("dana")
    team_actions.add_team_member(actor=owner, team=team, username="dana", role=Role.DEVELOPER)
    from django.contrib.auth import get_user_model

    developer = get_user_model().objects.get(username="dana")
    copy = _create(
        developer, team, _section(fromEnvironment=env.public_id) + INLINE, django_capture_on_commit_callbacks
    )
    assert copy.state == "failed"
    assert "become a version of team policy 'bp-shop'" in copy.state_reason
    assert "ask a maintainer to publish them" in copy.state_reason
    assert not SanitizationPolicy.objects.exists() and not Snapshot.objects.exists()
