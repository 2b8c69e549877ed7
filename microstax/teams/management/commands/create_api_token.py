from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from microstax.lib.errors import DomainError
from microstax.teams import actions


class Command(BaseCommand):
    help = "Create an API token for USERNAME and print it (the only time it is shown)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="cli")
        parser.add_argument("--expires-in", type=int, default=None, metavar="DAYS")

    def handle(self, *args, username: str, name: str, expires_in: int | None, **options):
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"no active user named '{username}'")
        try:
            # The operator at the console acts as the token's owner.
            token, secret = actions.create_api_token(actor=user, name=name, expires_in_days=expires_in)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stderr.write(
            f"created token {token.public_id} '{token.name}' for {username}"
            + (f", expires {token.expires_at:%Y-%m-%d}" if token.expires_at else "")
        )
        self.stdout.write(secret)
