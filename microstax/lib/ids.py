"""Public identifiers: a type prefix and a random suffix (``team_k3x9…``, ``env_…``).

Database primary keys never leave the server; every API, URL, CLI output and audit event uses the
public id, so ids are not guessable and say what they point at.
"""

from __future__ import annotations

import secrets
from functools import cache

from django.db import models
from django.utils.encoding import force_str
from django.utils.hashable import make_hashable

_ALPHABET = "0123456789abcdefghijkmnpqrstvwxyz"  # no l, o, u: easier to read aloud
_LENGTH = 12


def new_public_id(prefix: str) -> str:
    return f"{prefix}_" + "".join(secrets.choice(_ALPHABET) for _ in range(_LENGTH))


class PublicIdModel(models.Model):
    """Abstract base giving a model a prefixed, unique, immutable ``public_id``."""

    PUBLIC_ID_PREFIX = ""

    public_id = models.CharField(max_length=40, unique=True, editable=False)

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self.public_id:
            self.public_id = new_public_id(self.PUBLIC_ID_PREFIX)
        super().save(*args, **kwargs)

    def _get_FIELD_display(self, field):  # noqa: N802 - Django's name, which get_<field>_display calls
        """``get_state_display()`` and friends from a per-field table built once, instead of Django's
        table rebuilt on every call (a list page of 200 environments calls it hundreds of times)."""
        value = getattr(self, field.attname)
        return force_str(_choice_labels(field).get(make_hashable(value), value), strings_only=True)


@cache
def _choice_labels(field) -> dict:
    return dict(make_hashable(field.flatchoices))
