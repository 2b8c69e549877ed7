"""Date arguments shared by the audit commands."""

from __future__ import annotations

from datetime import date

from django.core.management.base import CommandError


def parse_day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{option}: {value!r} is not a date (YYYY-MM-DD)") from None
