"""The permission reads every page makes, answering exactly what guardian and Django answer while reading
the permission tables directly: ``teams_for`` (guardian's ``get_objects_for_user``), ``team_perms`` and
``has_team_perm`` (guardian's ``ObjectPermissionChecker``) and ``is_auditor`` (``user.has_perm``)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from guardian.core import ObjectPermissionChecker
from guardian.shortcuts import assign_perm, get_objects_for_user

from microstax.teams import actions
from microstax.teams.choices import Role, TeamPermission
from microstax.teams.models import Team
from microstax.teams.permissions import AUDITOR_PERMISSION, has_team_perm, is_auditor, team_perms, teams_for


def _guardian(user, perm: str) -> set[str]:
    teams = get_objects_for_user(user, f"teams.{perm}", klass=Team, with_superuser=True, accept_global_perms=False)
    return set(teams.values_list("slug", flat=True))


@pytest.mark.parametrize("perm", TeamPermission.values)
def test_every_persona_sees_the_teams_guardian_grants(
    perm, team, other_team, owner, viewer, outsider, admin_user, make_user
):
    # given: every role on one team, a member of two teams, a user granted a permission directly,
    # an inactive member and a user without any team
    people = {"owner": owner, "viewer": viewer, "outsider": outsider, "admin": admin_user}
    for role in (Role.MAINTAINER, Role.DEVELOPER):
        people[role] = make_user(f"u-{role}")
        actions.add_team_member(actor=owner, team=team, username=people[role].username, role=role)
    actions.add_team_member(actor=outsider, team=other_team, username=people[Role.DEVELOPER].username, role=Role.VIEWER)
    people["direct"] = make_user("direct-grant")
    assign_perm(f"teams.{perm}", people["direct"], other_team)
    people["inactive"] = make_user("gone")
    actions.add_team_member(actor=owner, team=team, username="gone", role=Role.OWNER)
    people["inactive"].is_active = False
    people["inactive"].save()
    people["nobody"] = make_user("nobody")

    for name, user in people.items():
        # then: the same teams as guardian's answer (which lets inactive users keep theirs: we don't)
        expected = set() if not user.is_active else _guardian(user, perm)
        assert set(teams_for(user, perm).values_list("slug", flat=True)) == expected, name
    assert set(teams_for(admin_user, perm).values_list("slug", flat=True)) == {"payments", "search"}
    assert set(teams_for(people["direct"], perm).values_list("slug", flat=True)) == {"search"}
    assert "payments" in set(teams_for(owner, perm).values_list("slug", flat=True))


def test_one_query_and_no_permission_lookups(team, viewer, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert list(teams_for(viewer).values_list("slug", flat=True)) == ["payments"]


def test_team_perms_are_guardians_for_every_role(team, owner, viewer, outsider, make_user):
    people = {"owner": owner, "viewer": viewer, "outsider": outsider}
    for role in (Role.MAINTAINER, Role.DEVELOPER):
        people[role] = make_user(f"u-{role}")
        actions.add_team_member(actor=owner, team=team, username=people[role].username, role=role)
    assign_perm("teams.use_environments", viewer, team)  # a direct grant adds to the role's
    for name, user in people.items():
        assert team_perms(user, team) == frozenset(ObjectPermissionChecker(user).get_perms(team)), name
        for perm in TeamPermission.values:
            assert has_team_perm(user, team, perm) == user.has_perm(f"teams.{perm}", team), (name, perm)
    assert "use_environments" in team_perms(viewer, team)
    assert team_perms(outsider, team) == frozenset()


def test_is_auditor_is_has_perm_granted_directly_or_through_a_group(make_user, admin_user):
    app_label, codename = AUDITOR_PERMISSION.split(".")
    permission = Permission.objects.get(content_type__app_label=app_label, codename=codename)
    direct, grouped, nobody = make_user("direct-auditor"), make_user("group-auditor"), make_user("nobody")
    direct.user_permissions.add(permission)
    reviewers = Group.objects.create(name="compliance")
    reviewers.permissions.add(permission)
    grouped.groups.add(reviewers)
    for user in (direct, grouped, nobody, admin_user):
        fresh = type(user).objects.get(pk=user.pk)  # has_perm caches what it read on the object
        assert is_auditor(fresh) == fresh.has_perm(AUDITOR_PERMISSION), user.username
    assert [is_auditor(u) for u in (direct, grouped, nobody, admin_user)] == [True, True, False, True]
