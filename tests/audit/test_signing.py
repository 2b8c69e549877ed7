"""The signing key: from settings, generated once for development, refused when wrong; the commands."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError

from audit import signing
from audit.actions import record


def test_the_development_key_is_generated_once_private_to_its_owner(own_key):
    with ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(lambda _: signing.current_key().key_id, range(16)))
    assert len(ids) == 1
    assert stat.S_IMODE(os.stat(own_key).st_mode) == 0o600
    assert own_key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")


def test_a_missing_key_is_an_error_when_it_is_not_the_development_default(own_key, settings):
    settings.MICROSTAX_AUDIT_SIGNING_KEY_GENERATE = False
    with pytest.raises(ImproperlyConfigured, match="does not exist"):
        signing.current_key()


def test_a_key_that_is_not_ed25519_is_refused(own_key):
    pem = generate_private_key(SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    own_key.write_bytes(pem)
    with pytest.raises(ImproperlyConfigured, match="must be Ed25519"):
        signing.current_key()


def test_production_settings_require_the_key_file(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEBUG", "MICROSTAX_AUDIT"))}
    env.update(SECRET_KEY="k", MICROSTAX_ENCRYPTION_KEY="A" * 43 + "=", DEBUG="false")
    code = "import microstax.settings as s; print(s.MICROSTAX_AUDIT_SIGNING_KEY_FILE)"
    missing = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert missing.returncode != 0 and "MICROSTAX_AUDIT_SIGNING_KEY_FILE must name" in missing.stderr
    env["MICROSTAX_AUDIT_SIGNING_KEY_FILE"] = str(tmp_path / "k.pem")
    given = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert given.returncode == 0 and given.stdout.strip() == str(tmp_path / "k.pem")


def test_rotating_to_a_given_key_file(db, own_key, tmp_path, capsys):
    record(action="test.before")
    new = signing.new_key()
    path = tmp_path / "next.pem"
    path.write_bytes(signing.private_pem(new))
    call_command("audit_rotate_key", "--new-key", str(path))
    assert f"-> {new.key_id}" in capsys.readouterr().out
    assert signing.current_key().key_id == new.key_id
    with pytest.raises(CommandError, match="is the key in use"):
        call_command("audit_rotate_key", "--new-key", str(path))
    path.write_text("not a key")
    with pytest.raises(CommandError, match="not an unencrypted PEM"):
        call_command("audit_rotate_key", "--new-key", str(path))


def test_checkpoint_and_verify_commands(db, own_key, capsys):
    from django.utils import timezone

    record(action="test.one")
    today = timezone.now().date().isoformat()
    call_command("audit_checkpoint", "--day", today)
    assert f"checkpoint {today}: events #1–#1 (1)" in capsys.readouterr().out
    call_command("audit_checkpoint")
    assert "already has its checkpoint" in capsys.readouterr().out
    call_command("audit_verify", "--json")
    assert json.loads(capsys.readouterr().out)["status"] == "verified"
    call_command("audit_verify", "--since", today)
    assert "audit chain verified: 1 events (#1–#1)" in capsys.readouterr().out
    call_command("audit_verify", "--event", "1")
    with pytest.raises(CommandError, match="not a date"):
        call_command("audit_verify", "--since", "yesterday")
