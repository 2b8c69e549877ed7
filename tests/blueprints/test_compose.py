"""Compose import: what maps, what is warned about, and what fails."""

from __future__ import annotations

import pytest

from blueprints.compose import ComposeImport, compose_bytes, compose_seconds, dns_name, import_compose
from blueprints.validation import validate_blueprint

COMPOSE = """\
name: shop
services:
  web:
    image: ghcr.io/example/web:1.2.0
    ports:
      - "8080:80"
      - target: 443
        published: "8443"
    environment:
      - API_URL=http://api:3000
      - FROM_HOST
    depends_on:
      api:
        condition: service_healthy
    command: npm run start -- --port 80
    networks: [front]
    privileged: true
    deploy:
      replicas: 2
      resources:
        limits: {cpus: "0.5", memory: 512M}
        reservations: {cpus: "0.25", memory: 256M}
    healthcheck:
      test: ["CMD", "curl", "-f", "http://localhost/health"]
      interval: 30s
      timeout: 5s
      retries: 3
      start_period: 1m30s
  api:
    image: ghcr.io/example/api:3.1.0
    environment: {PORT: 3000, RATIO: 1.10}
    depends_on: [db]
    entrypoint: ["/bin/api", "--serve"]
    expose: ["3000"]
    healthcheck:
      test: curl -f http://localhost:3000/
  db:
    image: postgres:16.3
    ports: ["5432:5432"]
    volumes:
      - pgdata:/var/lib/postgresql/data
      - ./init:/docker-entrypoint-initdb.d:ro
    healthcheck: {test: ["CMD-SHELL", "pg_isready -U postgres"]}
    cap_add: [NET_ADMIN]
    network_mode: bridge
    extra_hosts: ["legacy:10.0.0.1"]
volumes:
  pgdata: {}
networks:
  front: {}
"""


@pytest.fixture(scope="module")
def imported() -> ComposeImport:
    return import_compose(COMPOSE)


def service(result: ComposeImport, name: str) -> dict:
    return next(s for s in result.blueprint["services"] if s["name"] == name)


def warnings_about(result: ComposeImport, service_name: str, key: str) -> list[str]:
    return [w.message for w in result.warnings if f"services.{service_name}.{key}" in w.path]


def test_the_import_produces_a_blueprint_that_validates(imported):
    assert imported.ok and not imported.problems
    result = validate_blueprint(imported.yaml)
    assert result.valid, [p.format() for p in result.errors]
    assert imported.blueprint["name"] == "shop"


def test_ports_map_host_to_service_port_and_warn_about_host_binding(imported):
    assert service(imported, "web")["ports"] == [
        {"containerPort": 80, "port": 8080},
        {"containerPort": 443, "port": 8443},
    ]
    messages = warnings_about(imported, "web", "ports[0]")
    assert any("host port 8080 does not apply" in m for m in messages)
    assert service(imported, "web")["expose"] is True


def test_a_datastore_publishing_ports_is_not_exposed(imported):
    db = service(imported, "db")
    assert db["ports"] == [{"containerPort": 5432}]
    assert "expose" not in db
    assert any("not exposed" in m for m in warnings_about(imported, "db", "ports"))


def test_expose_adds_container_ports(imported):
    assert service(imported, "api")["ports"] == [{"containerPort": 3000}]


def test_environment_lists_and_maps_become_env(imported):
    assert service(imported, "web")["env"] == {"API_URL": "http://api:3000"}
    assert service(imported, "api")["env"] == {"PORT": "3000", "RATIO": "1.10"}
    assert any("FROM_HOST" in m for m in warnings_about(imported, "web", "environment[1]"))


def test_entrypoint_becomes_command_and_command_becomes_args(imported):
    assert service(imported, "web")["args"] == ["npm", "run", "start", "--", "--port", "80"]
    assert service(imported, "api")["command"] == ["/bin/api", "--serve"]
    assert "args" not in service(imported, "api")


def test_depends_on_in_both_forms_becomes_depends_on(imported):
    assert service(imported, "web")["dependsOn"] == ["api"]
    assert service(imported, "api")["dependsOn"] == ["db"]


def test_named_volumes_become_claims_and_bind_mounts_empty_directories(imported):
    assert service(imported, "db")["volumes"] == [
        {"name": "pgdata", "mountPath": "/var/lib/postgresql/data", "type": "pvc", "size": "1Gi"},
        {"name": "docker-entrypoint-initdb-d", "mountPath": "/docker-entrypoint-initdb.d", "type": "emptyDir"},
    ]
    warning = next(w for w in imported.warnings if w.code == "MSX-L103")
    assert warning.path == "services.db.volumes[1]"
    assert "./init" in warning.message


def test_healthchecks_become_readiness_probes(imported):
    assert service(imported, "web")["probes"] == {
        "readiness": {
            "exec": {"command": ["curl", "-f", "http://localhost/health"]},
            "periodSeconds": 30,
            "timeoutSeconds": 5,
            "initialDelaySeconds": 90,
            "failureThreshold": 3,
        }
    }
    assert service(imported, "api")["probes"]["readiness"]["exec"]["command"] == [
        "sh", "-c", "curl -f http://localhost:3000/"
    ]  # fmt: skip
    assert service(imported, "db")["probes"]["readiness"]["exec"]["command"] == ["sh", "-c", "pg_isready -U postgres"]


def test_deploy_sets_replicas_and_resources_with_binary_units(imported):
    web = service(imported, "web")
    assert web["replicas"] == 2
    assert web["resources"] == {
        "requests": {"cpu": "250m", "memory": "256Mi"},
        "limits": {"cpu": "500m", "memory": "512Mi"},
    }


@pytest.mark.parametrize(
    ("service_name", "key"),
    [("web", "networks"), ("web", "privileged"), ("db", "cap_add"), ("db", "network_mode"), ("db", "extra_hosts")],
)
def test_keys_that_cannot_map_are_warned_about_by_service_and_key(imported, service_name, key):
    messages = warnings_about(imported, service_name, key)
    assert messages, f"no warning for {service_name}.{key}"
    assert f"'{service_name}'" in messages[0] and f"'{key}'" in messages[0]
    warning = next(w for w in imported.warnings if w.path == f"services.{service_name}.{key}")
    assert warning.code == "MSX-L101" and warning.line is not None


def test_top_level_networks_are_warned_about(imported):
    assert any(w.path == "networks" and w.line == 49 for w in imported.warnings)


def test_build_without_image_fails_naming_the_service():
    result = import_compose("services:\n  web:\n    build: ./web\n")
    assert not result.ok and result.yaml == "" and result.blueprint == {}
    problem = result.problems[0]
    assert (problem.code, problem.path, problem.line) == ("MSX-E102", "services.web.build", 3)
    assert "'web'" in problem.message


def test_build_next_to_an_image_is_ignored_with_a_warning():
    result = import_compose("services:\n  web:\n    build: .\n    image: ghcr.io/a/web:1\n")
    assert result.ok
    assert any(w.path == "services.web.build" for w in result.warnings)


def test_a_file_without_services_fails():
    result = import_compose("version: '3'\n")
    assert [p.code for p in result.problems] == ["MSX-E101"]


def test_yaml_errors_are_reported_with_their_line():
    result = import_compose("services:\n  web: [\n")
    assert result.problems[0].code == "MSX-E001" and result.yaml == ""


def test_service_names_are_made_dns_safe_and_references_follow():
    result = import_compose(
        "services:\n  Web_App:\n    image: a/web:1\n    depends_on: [my_db]\n  my_db:\n    image: postgres:16.3\n"
    )
    assert result.ok
    assert [s["name"] for s in result.blueprint["services"]] == ["web-app", "my-db"]
    assert result.blueprint["services"][0]["dependsOn"] == ["my-db"]
    assert any(w.code == "MSX-L104" and w.path == "services.Web_App" for w in result.warnings)


def test_the_name_argument_wins_over_the_compose_project_name():
    assert import_compose(COMPOSE, name="checkout").blueprint["name"] == "checkout"
    assert import_compose("services:\n  a: {image: 'x:1'}\n").blueprint["name"] == "imported"


def test_a_dependency_on_an_undefined_service_fails_validation():
    result = import_compose("services:\n  web:\n    image: a:1\n    depends_on: [ghost]\n")
    assert not result.ok
    assert [p.code for p in result.problems] == ["MSX-E018"]
    assert result.problems[0].line == 2


def test_host_ip_bindings_and_port_ranges():
    result = import_compose(
        "services:\n  dns:\n    image: coredns/coredns:1.11.1\n"
        "    ports: ['127.0.0.1:5353:53/udp', '9000-9001:8000-8001']\n"
    )
    assert result.ok
    assert result.blueprint["services"][0]["ports"] == [
        {"containerPort": 53, "port": 5353, "protocol": "UDP"},
        {"containerPort": 8000, "port": 9000},
        {"containerPort": 8001, "port": 9001},
    ]
    assert any("127.0.0.1" in w.message for w in result.warnings)


def test_interpolated_values_are_warned_about():
    result = import_compose("services:\n  web:\n    image: 'nginx:1.27'\n    environment: {URL: '${URL}'}\n")
    assert any("interpolation" in w.message and w.path == "services.web.environment" for w in result.warnings)


@pytest.mark.parametrize(("value", "size"), [("512m", 512 * 2**20), ("1gb", 2**30), ("100", 100), ("1.5k", 1536)])
def test_compose_byte_sizes_are_binary(value, size):
    assert compose_bytes(value) == size


@pytest.mark.parametrize(("value", "seconds"), [("30s", 30), ("1m30s", 90), ("500ms", 1), ("1h", 3600)])
def test_compose_durations_round_up_to_seconds(value, seconds):
    assert compose_seconds(value) == seconds


@pytest.mark.parametrize(("value", "name"), [("My_App", "my-app"), ("__x__", "x"), ("a..b", "a-b"), ("!!!", "service")])
def test_dns_names_are_made_from_any_text(value, name):
    assert dns_name(value) == name


@pytest.mark.parametrize("weird", [None, 3, "", "[]", "services: 3", "services:\n  a: 3\n", "\ud800"])
def test_the_importer_never_raises(weird):
    result = import_compose(weird)  # type: ignore[arg-type]
    assert isinstance(result, ComposeImport)
    assert not result.ok and result.problems and result.yaml == ""
