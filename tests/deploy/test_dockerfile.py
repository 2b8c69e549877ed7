"""The Dockerfile, read as text: no container engine runs here, so what can be checked without a build is.

Checked: two stages (wheel build, slim runtime), a PostgreSQL client new enough for the environments'
databases, a fixed non-root user matching the manifests, every command the manifests and the
snapshot Jobs run installed on PATH by this project, and a build context (.dockerignore) that
carries what the wheel needs and no local secrets.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path

import pytest

from microstax.deploy.render import UID
from snapshots.jobs import CAPTURE, Transfer, render_transfer

from .helpers import objects, pod_specs

ROOT = Path(__file__).parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def copied_sources(stage: list[tuple[str, str]]) -> set[str]:
    """What ``COPY src… dest`` lines of a stage take from the build context."""
    out: set[str] = set()
    for word, rest in stage:
        parts = shlex.split(rest)
        if word == "COPY" and not parts[0].startswith("--from"):
            out.update(parts[:-1])
    return out


def stages() -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for word, rest in instructions():
        if word == "FROM":
            found.append([])
        if found:
            found[-1].append((word, rest))
    return found


def runtime() -> list[tuple[str, str]]:
    return stages()[-1]


def test_builds_a_wheel_then_installs_it_on_python_3_11_slim():
    build, final = stages()

    assert build[0][1].startswith("python:${PYTHON_VERSION}-slim AS build")
    assert ("ARG", "PYTHON_VERSION=3.11") in instructions()
    assert any(w == "RUN" and "pip wheel" in r for w, r in build)
    assert final[0][1] == "python:${PYTHON_VERSION}-slim AS runtime"
    assert ("COPY", "--from=build /wheels /tmp/wheels") in final
    assert any(
        w == "RUN" and "pip install --no-cache-dir --no-index --find-links=/tmp/wheels microstax" in r for w, r in final
    )


def test_the_build_stage_copies_every_package_the_wheel_is_made_of():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = copied_sources(stages()[0])

    assert packages <= copied
    assert {"pyproject.toml", project["project"]["readme"]} <= copied


def test_the_runtime_has_pg_dump_and_pg_restore_newer_than_the_environments_postgres():
    run = " ".join(rest for word, rest in runtime() if word == "RUN")
    major = int(dict(w_r[1].split("=", 1) for w_r in runtime() if w_r[0] == "ARG")["PG_MAJOR"])

    assert "postgresql-client-${PG_MAJOR}" in run
    assert "apt.postgresql.org" in run
    # pg_dump refuses servers newer than itself; the blueprints' databases run postgres:16.
    assert major >= 16
    assert "pg_dump --version" in run and "pg_restore --version" in run


def test_runs_as_the_non_root_user_the_manifests_expect():
    users = [rest for word, rest in runtime() if word == "USER"]

    assert users == [f"{UID}:{UID}"]
    run = " ".join(rest for word, rest in runtime() if word == "RUN")
    assert f"--uid {UID}" in run and f"--gid {UID}" in run
    for spec in pod_specs(objects()).values():
        assert spec["securityContext"]["runAsUser"] == UID


def _console_commands() -> set[str]:
    """Commands the installed image has on PATH: our console script and those of our dependencies."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return set(project["project"]["scripts"]) | {"daphne", "django-admin", "sh", "python"}


def _django_commands() -> set[str]:
    from django.core.management import get_commands

    return set(get_commands())


def _check_command(argv: list[str]) -> None:
    assert argv[0] in _console_commands(), argv
    if argv[0] == "django-admin":
        assert argv[1] in _django_commands(), argv
    if argv[0] == "daphne":
        module, _, attribute = argv[-1].partition(":")
        assert getattr(__import__(module, fromlist=[attribute]), attribute) is not None


def test_cmd_names_a_real_command_and_there_is_no_entrypoint():
    cmd = [rest for word, rest in runtime() if word == "CMD"]

    assert len(cmd) == 1
    argv = json.loads(cmd[0])
    _check_command(argv)
    assert argv == pod_specs(objects())["microstax-web"]["containers"][0]["command"]
    assert not [rest for word, rest in runtime() if word == "ENTRYPOINT"]
    assert ("ENV", "DJANGO_SETTINGS_MODULE=microstax.settings") in [
        (w, r.split()[0]) for w, r in runtime() if w == "ENV"
    ]


def test_every_command_the_manifests_run_exists_in_the_image():
    for spec in pod_specs(objects()).values():
        for container in spec["containers"] + spec.get("initContainers", []):
            _check_command(container["command"])


def test_the_snapshot_jobs_run_the_microstax_console_script():
    from tests.render.helpers import EVERYTHING, context, normalized

    spec = normalized(EVERYTHING)
    db = next(s for s in spec["services"] if s.get("image", "").startswith("postgres"))
    transfer = Transfer(
        kind=CAPTURE,
        name="snap-capture-x",
        service=db,
        url="https://m.example.com/a",
        token="t",
        image="i",
        policy_yaml="name: p\n",
    )
    job = next(o for o in render_transfer(context(spec), spec, transfer) if o["kind"] == "Job")
    argv = job["spec"]["template"]["spec"]["containers"][0]["command"]

    _check_command(argv)
    assert argv[:2] == ["microstax", "snapshot-agent"]


@pytest.mark.parametrize("pattern", [".git", ".venv", "var", "tests", "*.pem", "*.kubeconfig", "*.sqlite3"])
def test_the_build_context_leaves_out_history_local_state_and_secrets(pattern):
    ignored = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()]

    assert pattern in ignored


def test_the_build_context_keeps_what_the_build_copies():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip()}
    copied = copied_sources(stages()[0])

    assert copied and not copied & ignored
