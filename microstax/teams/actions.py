"""Team, membership and API-token operations. Every interface calls these; each checks permission,
changes state in one transaction and records exactly one audit event. A refused call raises before
anything is written."""

from __future__ import annotations

import re
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.actions import record
from microstax.lib.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from microstax.teams import permissions
from microstax.teams.choices import Role, TeamPermission
from microstax.teams.models import ApiToken, Membership, Team

_SLUG = re.compile(r"^[a-z0-9]([a-z0-9-]{0,48}[a-z0-9])?$")
MAX_TOKEN_DAYS = 3650


def _require_authenticated(actor) -> None:
    if actor is None or not getattr(actor, "is_authenticated", False) or not actor.is_active:
        raise PermissionDenied("authentication required")


def _require(actor, team: Team, perm: TeamPermission) -> None:
    permissions.require_team_perm(actor, team, perm, doing=f"this ({perm.label.lower()})")


def _clean_name(name: str, *, field: str = "name", max_length: int = 100) -> str:
    cleaned = (name or "").strip()
    if not cleaned:
        raise InvalidInput(f"{field} must not be empty", field=field)
    if len(cleaned) > max_length:
        raise InvalidInput(f"{field} must be at most {max_length} characters", field=field)
    return cleaned


def _clean_role(role: str) -> str:
    if role not in Role.values:
        raise InvalidInput(f"role must be one of {', '.join(Role.values)}", field="role")
    return role


def team_snapshot(team: Team) -> dict:
    return {"id": team.public_id, "slug": team.slug, "name": team.name}


def create_team(*, actor, slug: str, name: str) -> Team:
    """Create a team; its creator becomes its first owner."""
    _require_authenticated(actor)
    slug = (slug or "").strip()
    if not _SLUG.match(slug):
        raise InvalidInput(
            "slug must be 1-50 lowercase letters, digits or hyphens, starting and ending with a letter or digit",
            field="slug",
        )
    name = _clean_name(name)
    try:
        with transaction.atomic():
            team = Team.objects.create(slug=slug, name=name)
            membership = Membership.objects.create(team=team, user=actor, role=Role.OWNER)
            permissions.set_membership_group(membership)
            record(
                action="team.create",
                actor=actor,
                team=team,
                target_type="team",
                target_id=team.public_id,
                after=team_snapshot(team),
            )
    except IntegrityError:
        raise Conflict(f"a team with slug '{slug}' already exists", field="slug") from None
    return team


def rename_team(*, actor, team: Team, name: str) -> Team:
    _require(actor, team, TeamPermission.CHANGE)
    name = _clean_name(name)
    with transaction.atomic():
        before = team_snapshot(team)
        team.name = name
        team.save(update_fields=["name"])
        record(
            action="team.rename",
            actor=actor,
            team=team,
            target_type="team",
            target_id=team.public_id,
            before=before,
            after=team_snapshot(team),
        )
    return team


def _find_user(username: str):
    user = get_user_model().objects.filter(username=(username or "").strip(), is_active=True).first()
    if user is None:
        raise NotFound(f"no active user named '{username}'", field="username")
    return user


def _owner_count(team: Team) -> int:
    return Membership.objects.filter(team=team, role=Role.OWNER).count()


def _lock(team: Team) -> None:
    # Serialises membership changes of one team so two concurrent demotions cannot both pass the
    # last-owner check.
    Team.objects.select_for_update(no_key=True).filter(pk=team.pk).first()


def add_team_member(*, actor, team: Team, username: str, role: str) -> Membership:
    _require(actor, team, TeamPermission.MANAGE_MEMBERS)
    role = _clean_role(role)
    user = _find_user(username)
    try:
        with transaction.atomic():
            membership = Membership.objects.create(team=team, user=user, role=role)
            permissions.set_membership_group(membership)
            record(
                action="team.member.add",
                actor=actor,
                team=team,
                target_type="membership",
                target_id=f"{team.public_id}/{user.username}",
                after={"username": user.username, "role": role},
            )
    except IntegrityError:
        raise Conflict(f"'{user.username}' is already a member of '{team.slug}'", field="username") from None
    return membership


def set_member_role(*, actor, team: Team, username: str, role: str) -> Membership:
    _require(actor, team, TeamPermission.MANAGE_MEMBERS)
    role = _clean_role(role)
    with transaction.atomic():
        _lock(team)
        membership = (
            Membership.objects.select_related("user", "team").filter(team=team, user__username=username).first()
        )
        if membership is None:
            raise NotFound(f"'{username}' is not a member of '{team.slug}'", field="username")
        if membership.role == Role.OWNER and role != Role.OWNER and _owner_count(team) == 1:
            raise Conflict(
                "a team must keep at least one owner; make someone else owner first", field="role", code="LAST_OWNER"
            )
        before = {"username": username, "role": membership.role}
        membership.role = role
        membership.save(update_fields=["role"])
        permissions.set_membership_group(membership)
        record(
            action="team.member.role",
            actor=actor,
            team=team,
            target_type="membership",
            target_id=f"{team.public_id}/{username}",
            before=before,
            after={"username": username, "role": role},
        )
    return membership


def remove_team_member(*, actor, team: Team, username: str) -> None:
    """Owners remove anyone but the last owner; any member may leave on their own."""
    _require_authenticated(actor)
    leaving = actor.get_username() == username
    if not (leaving and permissions.has_team_perm(actor, team, TeamPermission.VIEW)):
        _require(actor, team, TeamPermission.MANAGE_MEMBERS)
    with transaction.atomic():
        _lock(team)
        membership = Membership.objects.select_related("user").filter(team=team, user__username=username).first()
        if membership is None:
            raise NotFound(f"'{username}' is not a member of '{team.slug}'", field="username")
        if membership.role == Role.OWNER and _owner_count(team) == 1:
            raise Conflict(
                "the last owner cannot be removed; make someone else owner first", field="username", code="LAST_OWNER"
            )
        before = {"username": username, "role": membership.role}
        permissions.clear_membership_group(team, membership.user)
        membership.delete()
        record(
            action="team.member.remove",
            actor=actor,
            team=team,
            target_type="membership",
            target_id=f"{team.public_id}/{username}",
            before=before,
        )


def token_snapshot(token: ApiToken) -> dict:
    return {
        "id": token.public_id,
        "name": token.name,
        "prefix": token.display_prefix,
        "expires_at": token.expires_at.isoformat() if token.expires_at else None,
    }


def create_api_token(*, actor, name: str, expires_in_days: int | None = None, user=None) -> tuple[ApiToken, str]:
    """Create a token for ``user`` (default: the actor). Returns the row and the secret, shown once.

    Only platform admins create tokens for someone else.
    """
    _require_authenticated(actor)
    owner = user or actor
    if owner.pk != actor.pk and not actor.is_superuser:
        raise PermissionDenied("only platform admins create tokens for other users")
    name = _clean_name(name)
    expires_at = None
    if expires_in_days is not None:
        if not 1 <= expires_in_days <= MAX_TOKEN_DAYS:
            raise InvalidInput(f"expiry must be between 1 and {MAX_TOKEN_DAYS} days", field="expiresInDays")
        expires_at = timezone.now() + timedelta(days=expires_in_days)
    secret = ApiToken.generate_secret()
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=owner,
            name=name,
            token_hash=ApiToken.hash_secret(secret),
            display_prefix=secret[:10],
            expires_at=expires_at,
        )
        record(
            action="token.create",
            actor=actor,
            target_type="api_token",
            target_id=token.public_id,
            after={**token_snapshot(token), "user": owner.get_username()},
        )
    return token, secret


def revoke_api_token(*, actor, token: ApiToken) -> ApiToken:
    """Revoke one of the actor's tokens (platform admins: anyone's). Unknown or foreign → NOT_FOUND."""
    _require_authenticated(actor)
    if token.user_id != actor.pk and not actor.is_superuser:
        raise NotFound("token not found", field="token")
    if token.revoked_at is not None:
        return token
    with transaction.atomic():
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        record(
            action="token.revoke",
            actor=actor,
            target_type="api_token",
            target_id=token.public_id,
            before=token_snapshot(token),
            after={"revoked_at": token.revoked_at.isoformat()},
        )
    return token


def authenticate_token(secret: str) -> ApiToken | None:
    """The active token for a presented secret, or None. Marks it used."""
    if not secret.startswith("msx_") or len(secret) > 200:
        return None
    token = (
        ApiToken.objects.active()
        .select_related("user")
        .filter(token_hash=ApiToken.hash_secret(secret), user__is_active=True)
        .first()
    )
    if token is not None:
        token.touch()
    return token


def record_authentication_failure(*, username: str, method: str, reason: str) -> None:
    """Failed logins and rejected tokens are security events: who tried, from where, why."""
    record(
        action=f"auth.{method}.failed",
        actor=None,
        actor_name=(username or "anonymous")[:150],
        outcome="failure",
        reason=reason,
    )
