"""Seed Jobs: a service's ``init`` script run once against it after it becomes ready.

The script's text comes from ``init.inline``, or for ``init.script`` (a path in the team's
repository, which the renderer cannot read) from :attr:`RenderContext.files`. It is mounted
from a ConfigMap. When the text of a path was not supplied, or the service cannot be reached,
the Job is still rendered but fails at once with a message saying why, so provisioning stops
before the dependents start and the reason shows in the Job's logs and in ``warnings``.

``type: sql`` runs the database's own client: the service's image when it is a PostgreSQL or
MySQL/MariaDB image (same client version, no extra pull), otherwise the official client image
of the engine its environment variables point to. It waits until the server accepts
connections, then runs the script in one session that stops at the first error.
``type: shell`` runs ``sh`` on the script in the service's own image with the service's
environment.

The Job's name ends in a hash of its whole spec and script: Job templates are immutable, so a
changed script or image becomes a new Job (the old one leaves the desired set and is pruned),
and an unchanged one is never re-run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .config import container_env, env_source
from .mocks import CONFIGMAP_LIMIT
from .model import RenderContext, RenderError
from .names import SEED, dns_name, metadata, pod_labels, service_labels, short_hash
from .workloads import pod_spec

BACKOFF_LIMIT = 2
# Bounds the wait-for-the-database loop: a server that never comes up fails the Job, not hangs it.
ACTIVE_DEADLINE_SECONDS = 900
SEED_DIR = "/seed"
SEED_VOLUME = "seed"
FAILING_IMAGE = "busybox:1.36"
ENGINES = {
    "postgres": {
        "markers": ("postgres", "postgis", "timescaledb", "pgvector"),
        "port": 5432,
        "client": "postgres:17-alpine",
    },
    "mysql": {"markers": ("mysql", "mariadb", "percona"), "port": 3306, "client": "mysql:8.4"},
}
_ENV_PREFIXES = {"postgres": ("POSTGRES_",), "mysql": ("MYSQL_", "MARIADB_")}

POSTGRES_SCRIPT = (
    'until pg_isready -q; do echo "waiting for $PGHOST:$PGPORT"; sleep 2; done\n'
    "exec psql -v ON_ERROR_STOP=1 -f /seed/seed.sql\n"
)
# MariaDB 11 images ship only mariadb-named binaries; MySQL images only mysql-named ones.
# The clients read the password from MYSQL_PWD, which keeps it off the command line.
MYSQL_SCRIPT = (
    "client=$(command -v mariadb || command -v mysql)\n"
    "admin=$(command -v mariadb-admin || command -v mysqladmin)\n"
    'until "$admin" ping -h "$DB_HOST" -P "$DB_PORT" --silent; do echo "waiting for $DB_HOST:$DB_PORT"; sleep 2; done\n'
    'exec "$client" -h "$DB_HOST" -P "$DB_PORT" -u "$DB_USER" ${DB_NAME:+"$DB_NAME"} < /seed/seed.sql\n'
)


@dataclass
class SeedParts:
    """A service's seed Job, the ConfigMap holding its script, and what went wrong, if anything."""

    job: dict[str, Any]
    config_map: dict[str, Any] | None
    warnings: list[str] = field(default_factory=list)


def image_engine(image: str | None) -> str | None:
    """``postgres`` or ``mysql`` when the image's repository name says so."""
    if not image:
        return None
    repository = image.split("@", 1)[0].rsplit("/", 1)[-1].split(":", 1)[0]
    for engine, info in ENGINES.items():
        if any(marker in repository for marker in info["markers"]):
            return engine
    return None


def _env_engine(service: dict[str, Any]) -> str | None:
    keys = set(service["env"]) | {s["envKey"] for s in service["secrets"]}
    for engine, prefixes in _ENV_PREFIXES.items():
        if any(key.startswith(prefixes) for key in keys):
            return engine
    return None


def _first(service: dict[str, Any], *keys: str) -> dict[str, Any] | None:
    for key in keys:
        source = env_source(service, key)
        if source is not None:
            return source
    return None


def _postgres_env(service: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    user = _first(service, "POSTGRES_USER") or {"value": "postgres"}
    password = _first(service, "POSTGRES_PASSWORD")
    database = _first(service, "POSTGRES_DB", "POSTGRES_USER") or {"value": "postgres"}
    env = [("PGUSER", user), ("PGDATABASE", database)]
    if password is not None:
        env.append(("PGPASSWORD", password))
    return env


def _mysql_env(service: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    root_password = _first(service, "MYSQL_ROOT_PASSWORD", "MARIADB_ROOT_PASSWORD")
    user = _first(service, "MYSQL_USER", "MARIADB_USER")
    password = _first(service, "MYSQL_PASSWORD", "MARIADB_PASSWORD")
    env: list[tuple[str, dict[str, Any]]]
    if root_password is None and user is not None and password is not None:
        env = [("DB_USER", user), ("MYSQL_PWD", password)]
    else:
        env = [("DB_USER", {"value": "root"})]
        if root_password is not None:
            env.append(("MYSQL_PWD", root_password))
    database = _first(service, "MYSQL_DATABASE", "MARIADB_DATABASE")
    if database is not None:
        env.append(("DB_NAME", database))
    return env


def postgres_connection(service: dict[str, Any]) -> tuple[list[tuple[str, dict[str, Any]]], str | None]:
    """libpq's variables (``PGHOST`` … ``PGPASSWORD``) for a Job reaching a PostgreSQL service, as a
    seed Job gets them; ([], reason) when the service cannot be reached. Snapshot Jobs use this."""
    tcp = [port for port in service["ports"] if port["protocol"] == "TCP"]
    if not tcp:
        return [], f"{service['name']} declares no TCP port, so no Service exists for a job to connect to"
    port = next((p for p in tcp if p["containerPort"] == ENGINES["postgres"]["port"]), tcp[0])
    connection = [("PGHOST", {"value": service["name"]}), ("PGPORT", {"value": str(port["port"])})]
    return connection + _postgres_env(service), None


def _sql_container(service: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """The client container for a sql seed, or (None, reason) when the server cannot be reached."""
    engine = image_engine(service["image"]) or _env_engine(service) or "postgres"
    info = ENGINES[engine]
    image = service["image"] if image_engine(service["image"]) == engine else info["client"]
    tcp = [port for port in service["ports"] if port["protocol"] == "TCP"]
    if not tcp:
        return None, f"{service['name']} declares no TCP port, so no Service exists for the seed job to connect to"
    port = next((p for p in tcp if p["containerPort"] == info["port"]), tcp[0])
    if engine == "postgres":
        connection = [("PGHOST", {"value": service["name"]}), ("PGPORT", {"value": str(port["port"])})]
        env, script = connection + _postgres_env(service), POSTGRES_SCRIPT
    else:
        connection = [("DB_HOST", {"value": service["name"]}), ("DB_PORT", {"value": str(port["port"])})]
        env, script = connection + _mysql_env(service), MYSQL_SCRIPT
    return {
        "name": "seed",
        "image": image,
        "command": ["sh", "-c", script],
        "env": [{"name": name, **source} for name, source in env],
        "volumeMounts": [{"name": SEED_VOLUME, "mountPath": SEED_DIR, "readOnly": True}],
    }, None


def _shell_container(service: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": "seed",
        "image": service["image"],
        "command": ["sh", f"{SEED_DIR}/seed.sh"],
        "volumeMounts": [{"name": SEED_VOLUME, "mountPath": SEED_DIR, "readOnly": True}],
    }
    env = container_env(service)
    if env:
        out["env"] = env
    return out


def _failing_container(message: str) -> dict[str, Any]:
    return {
        "name": "seed",
        "image": FAILING_IMAGE,
        "command": ["sh", "-c", 'echo "$SEED_ERROR" >&2; exit 1'],
        "env": [{"name": "SEED_ERROR", "value": f"MicroStax: {message}"}],
    }


def seed(ctx: RenderContext, spec: dict[str, Any], service: dict[str, Any]) -> SeedParts | None:
    """The seed Job (and its script's ConfigMap) of a service with ``init``; None without one."""
    init = service["init"]
    if init is None:
        return None
    name = service["name"]
    warnings: list[str] = []
    text = init["inline"] if init["inline"] is not None else ctx.files.get(init["script"] or "")
    key = "seed.sql" if init["type"] == "sql" else "seed.sh"
    problem: str | None = None
    container: dict[str, Any] | None = None
    if text is None:
        problem = f"the seed script {init['script']!r} of {name} was not supplied with the blueprint"
    elif len(text.encode()) > CONFIGMAP_LIMIT:
        raise RenderError(f"{name}: the seed script is larger than a ConfigMap can hold (1 MiB)")
    elif init["type"] == "sql":
        container, problem = _sql_container(service)
    else:
        container = _shell_container(service)
    config_map = None
    volumes: list[dict[str, Any]] = []
    if problem is not None:
        warnings.append(f"{name}: {problem}; its seed job will fail")
        container = _failing_container(problem)
    else:
        assert container is not None and text is not None
        config_map = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata(dns_name(name, "seed"), ctx, service_labels(ctx, spec, name)),
            "data": {key: text},
        }
        volumes = [{"name": SEED_VOLUME, "configMap": {"name": config_map["metadata"]["name"]}}]
    template_spec = {"restartPolicy": "Never", **pod_spec([container], volumes)}
    job_spec = {
        "backoffLimit": BACKOFF_LIMIT,
        "activeDeadlineSeconds": ACTIVE_DEADLINE_SECONDS,
        "template": {"metadata": {"labels": pod_labels(ctx, spec, name, SEED)}, "spec": template_spec},
    }
    identity = json.dumps([job_spec, text], sort_keys=True, separators=(",", ":"))
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(dns_name(name, "seed", short_hash(identity)), ctx, service_labels(ctx, spec, name)),
        "spec": job_spec,
    }
    return SeedParts(job=job, config_map=config_map, warnings=warnings)
