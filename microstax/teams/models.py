"""Teams, memberships and API tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.utils import timezone
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from microstax.lib.ids import PublicIdModel
from microstax.teams.choices import Role, TeamPermission

TOKEN_PREFIX = "msx_"
# last_used_at is a hint for humans; writing it on every request would turn reads into writes.
TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)


class Team(PublicIdModel):
    """A group of people that owns blueprints, environments and snapshots."""

    PUBLIC_ID_PREFIX = "team"

    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["slug"]
        permissions = [(p.value, p.label) for p in TeamPermission if p.value not in ("view_team", "change_team")]

    def __str__(self) -> str:
        return self.slug

    def role_group_name(self, role: str) -> str:
        return f"team:{self.public_id}:{role}"


class TeamUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Team, on_delete=models.CASCADE)


class TeamGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Team, on_delete=models.CASCADE)


class TeamRoleGroup(models.Model):
    """The auth Group holding one role's permissions on one team."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="role_groups")
    role = models.CharField(max_length=20, choices=Role.choices)
    group = models.OneToOneField(Group, on_delete=models.CASCADE, related_name="team_role")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "role"], name="unique_team_role_group")]

    def __str__(self) -> str:
        return f"{self.team.slug}:{self.role}"


class Membership(models.Model):
    """A user's role in a team. Exactly one membership per (team, user)."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["team", "user__username"]
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="unique_team_membership")]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} as {self.role}"


class ApiTokenQuerySet(models.QuerySet):
    def active(self) -> ApiTokenQuerySet:
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class ApiToken(PublicIdModel):
    """A personal API token. Only the SHA-256 of the secret is stored; it is shown once at creation.

    Tokens carry 256 bits of randomness, so an unsalted fast hash is the right tool here (as for
    session keys): it allows an indexed lookup and cannot be brute-forced.
    """

    PUBLIC_ID_PREFIX = "tok"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    display_prefix = models.CharField(max_length=16, editable=False, help_text="First characters, to recognise it")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.display_prefix}…)"

    @staticmethod
    def generate_secret() -> str:
        return TOKEN_PREFIX + secrets.token_urlsafe(32)

    @staticmethod
    def hash_secret(secret: str) -> str:
        return hashlib.sha256(secret.encode()).hexdigest()

    @property
    def is_active(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= timezone.now():
            return "expired"
        return "active"

    def touch(self) -> None:
        """Record use, at most once per TOKEN_TOUCH_INTERVAL, without a read-modify-write race."""
        now = timezone.now()
        if self.last_used_at and now - self.last_used_at < TOKEN_TOUCH_INTERVAL:
            return
        ApiToken.objects.filter(pk=self.pk).update(last_used_at=now)
        self.last_used_at = now


class AuthThrottle(models.Model):
    """Failed sign-ins counted per client IP or per username (``key``), shared by every process.

    Used when no shared cache (Redis) is configured; see ``microstax.teams.throttle``.
    """

    key = models.CharField(max_length=200, unique=True)
    failures = models.PositiveIntegerField(default=0)
    last_failure_at = models.DateTimeField()
    locked_until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.key}: {self.failures}"
