from __future__ import annotations

from django.db import models


class Outcome(models.TextChoices):
    SUCCESS = "success", "Success"
    FAILURE = "failure", "Failure"
    DENIED = "denied", "Denied"


class ActorKind(models.TextChoices):
    USER = "user", "User (session)"
    TOKEN = "token", "User (API token)"
    SYSTEM = "system", "System"
    ANONYMOUS = "anonymous", "Anonymous"
