"""``manage.py audit_rotate_key [--new-key FILE]``: replace the audit signing key, recorded in the chain."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from audit import signing
from audit.actions import rotate_signing_key
from microstax.lib.errors import DomainError


class Command(BaseCommand):
    help = (
        "Rotate the audit signing key: record audit.key.rotated (signed by the old key, naming the new public "
        "key) and replace MICROSTAX_AUDIT_SIGNING_KEY_FILE with the new key (generated, or read from --new-key)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--new-key", help="an Ed25519 private key (PEM) to rotate to; generated when omitted")

    def handle(self, *args, **opts):
        new_key = None
        if opts["new_key"]:
            path = Path(opts["new_key"])
            try:
                new_key = signing.parse_pem(path.read_bytes(), source=str(path))
            except OSError as exc:
                raise CommandError(f"--new-key: cannot read {path}: {exc.strerror}") from None
            except Exception as exc:  # ImproperlyConfigured from parse_pem names the problem
                raise CommandError(str(exc)) from None
        try:
            event = rotate_signing_key(new_key=new_key)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(
            f"signing key rotated: {event.after['old_key_id']} -> {event.after['new_key_id']} "
            f"(event #{event.sequence}); {settings.MICROSTAX_AUDIT_SIGNING_KEY_FILE} now holds the new key"
        )
