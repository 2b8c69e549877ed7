"""``render_deploy`` and ``wait_for_migrations`` as commands, and the health endpoints the probes call."""

from __future__ import annotations

import io

import pytest
import yaml
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import OperationalError

from microstax.deploy.management.commands import wait_for_migrations
from microstax.deploy.render import SECRET_KEYS, options_from_settings, render_deploy

ARGS = ["--host", "msx.example.com", "--image", "registry.example.com/microstax:3.1.0"]


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("render_deploy", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_render_deploy_prints_the_rendering_of_the_settings_and_flags():
    text = run(*ARGS, "--namespace", "platform", "--replicas-web", "3", "--replicas-worker", "1")

    documents = [d for d in yaml.safe_load_all(text) if d]
    expected = render_deploy(
        options_from_settings(
            settings,
            host="msx.example.com",
            image="registry.example.com/microstax:3.1.0",
            namespace="platform",
            replicas_web=3,
            replicas_worker=1,
        )
    )
    assert documents == expected


def test_the_yaml_explains_the_secret_and_every_rbac_rule_without_any_secret_value():
    text = run(*ARGS)

    for key in SECRET_KEYS.values():
        assert f"--from-file={key}=" in text
    role = text[text.index("kind: ClusterRole\n") :].split("\n---\n")[0]
    assert role.count("\n# ") >= role.count("- apiGroups:") > 5
    assert settings.SECRET_KEY not in text
    assert settings.MICROSTAX_ENCRYPTION_KEY.decode() not in text


def test_render_deploy_writes_one_numbered_file_per_object(tmp_path):
    call_command("render_deploy", *ARGS, "--output", str(tmp_path / "out"), stdout=io.StringIO(), stderr=io.StringIO())

    files = sorted(p.name for p in (tmp_path / "out").glob("*.yaml"))
    assert files[0] == "00-namespace-microstax.yaml"
    assert files[-1] == "12-poddisruptionbudget-microstax-web.yaml"
    assert "kubectl -n microstax create secret generic microstax" in (tmp_path / "out" / "README.txt").read_text()
    job = yaml.safe_load((tmp_path / "out" / files[7]).read_text())
    assert job["kind"] == "Job"


def test_render_deploy_without_a_public_host_says_what_to_pass(settings):
    settings.MICROSTAX_PUBLIC_URL = "http://127.0.0.1:8000"
    settings.ALLOWED_HOSTS = ["localhost", "127.0.0.1"]

    with pytest.raises(CommandError, match="--host"):
        run("--image", "x/y:1")


def test_render_deploy_refuses_bad_flags():
    with pytest.raises(CommandError, match="replicas"):
        run(*ARGS, "--replicas-web", "0")


@pytest.mark.django_db
def test_wait_for_migrations_returns_at_once_on_a_migrated_database():
    out = io.StringIO()
    call_command("wait_for_migrations", "--timeout", "5", stdout=out)

    assert "all applied" in out.getvalue()


@pytest.mark.django_db
def test_wait_for_migrations_gives_up_after_the_timeout_naming_what_is_pending(monkeypatch):
    monkeypatch.setattr(wait_for_migrations, "pending_migrations", lambda alias: ["environments.0099_future"])

    with pytest.raises(CommandError, match="environments.0099_future"):
        call_command("wait_for_migrations", "--timeout", "0", "--interval", "0", stdout=io.StringIO())


@pytest.mark.django_db
def test_wait_for_migrations_keeps_waiting_while_the_database_is_unreachable(monkeypatch):
    calls = iter([OperationalError("connection refused"), []])

    def pending(alias):
        result = next(calls)
        if isinstance(result, Exception):
            raise result
        return result

    monkeypatch.setattr(wait_for_migrations, "pending_migrations", pending)
    out = io.StringIO()
    call_command("wait_for_migrations", "--timeout", "5", "--interval", "0", stdout=out)

    assert "database not reachable: OperationalError" in out.getvalue()
    assert "connection refused" not in out.getvalue()
    assert "all applied" in out.getvalue()


@pytest.mark.django_db
def test_healthz_is_ok_when_the_database_answers(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok"}}
    assert "no-cache" in response["Cache-Control"]
    assert client.head("/healthz").status_code == 200


@pytest.mark.django_db
def test_healthz_is_unavailable_without_the_database_and_tells_no_details(client, monkeypatch):
    from django.db import connection

    def broken():
        raise OperationalError(f"could not connect to {settings.DATABASES['default']['NAME']} as admin:hunter2")

    monkeypatch.setattr(connection, "cursor", broken)
    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "checks": {"database": "unreachable"}}
    assert b"hunter2" not in response.content


def test_livez_checks_nothing_but_the_process(client, monkeypatch):
    response = client.get("/livez")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert client.post("/livez").status_code == 405
