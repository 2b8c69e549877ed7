"""Contents of the rendered objects: policies, quota, secrets, workloads, seeds, mocks and routes."""

from __future__ import annotations

import base64

import pytest

from environments.render import QuotaPolicy, RenderError, render_environment
from environments.render.mocks import PRISM_IMAGE
from environments.render.seeds import FAILING_IMAGE, image_engine
from microstax.kube.labels import SERVICE
from microstax.kube.objects import matches_selector

from .helpers import FILES, by_kind, context, everything


@pytest.fixture(scope="module")
def result():
    spec = everything()
    return render_environment(spec, context(spec))


def container_of(deployment, index=0):
    return deployment["spec"]["template"]["spec"]["containers"][index]


def job_of(result, service):
    return next(job for name, job in by_kind(result, "Job").items() if name.startswith(f"{service}-seed-"))


# --- foundation ---------------------------------------------------------------------------------


def test_the_namespace_is_labelled_as_microstax_and_enforces_baseline_pod_security(result):
    namespace = by_kind(result, "Namespace")["env-shop-dev-ab12cd"]

    assert "namespace" not in namespace["metadata"]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "baseline"
    assert namespace["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "microstax"


def test_network_policies_deny_by_default_and_allow_the_namespace_and_dns(result):
    policies = by_kind(result, "NetworkPolicy")

    deny = policies["default-deny"]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    same = policies["allow-same-namespace"]["spec"]
    assert same["ingress"] == [{"from": [{"podSelector": {}}]}]
    assert same["egress"] == [{"to": [{"podSelector": {}}]}]
    dns = policies["allow-dns"]["spec"]
    assert dns["policyTypes"] == ["Egress"]
    assert dns["egress"][0]["to"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ]
    assert dns["egress"][0]["ports"] == [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]


def test_the_ingress_controller_may_reach_exposed_services_on_their_container_port_only(result):
    policies = by_kind(result, "NetworkPolicy")

    web = policies["allow-ingress-web"]["spec"]
    assert web["podSelector"]["matchLabels"][SERVICE] == "web"
    assert web["policyTypes"] == ["Ingress"]
    # web publishes Service port 80 in front of container port 8080; policies see the pod port
    assert web["ingress"] == [
        {
            "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}],
            "ports": [{"port": 8080, "protocol": "TCP"}],
        }
    ]
    assert "allow-ingress-payments" in policies
    assert "allow-ingress-db" not in policies


def test_the_ingress_controller_namespace_comes_from_the_context():
    spec = everything()
    labels = {"kubernetes.io/metadata.name": "ingress-nginx"}

    result = render_environment(spec, context(spec, routing_provider="nginx", ingress_namespace_labels=labels))

    rule = by_kind(result, "NetworkPolicy")["allow-ingress-web"]["spec"]["ingress"][0]
    assert rule["from"] == [{"namespaceSelector": {"matchLabels": labels}}]


def test_a_quota_policy_renders_a_resource_quota_and_container_defaults():
    spec = everything()
    quota = QuotaPolicy(requests_cpu="4", requests_memory="8Gi", pods=20, requests_storage="20Gi")

    result = render_environment(spec, context(spec, quota=quota))

    assert by_kind(result, "ResourceQuota")["microstax-quota"]["spec"] == {
        "hard": {"pods": "20", "requests.cpu": "4", "requests.memory": "8Gi", "requests.storage": "20Gi"}
    }
    limits = by_kind(result, "LimitRange")["microstax-limits"]["spec"]["limits"]
    assert limits == [
        {
            "type": "Container",
            "default": {"cpu": "500m", "memory": "512Mi"},
            "defaultRequest": {"cpu": "50m", "memory": "64Mi"},
        }
    ]


def test_without_a_quota_policy_there_is_no_quota_or_limit_range(result):
    assert not by_kind(result, "ResourceQuota")
    assert not by_kind(result, "LimitRange")


def test_a_quota_policy_with_only_defaults_renders_just_the_limit_range():
    spec = everything()

    result = render_environment(spec, context(spec, quota=QuotaPolicy()))

    assert not by_kind(result, "ResourceQuota")
    assert by_kind(result, "LimitRange")


def test_a_default_request_above_the_default_limit_is_refused():
    with pytest.raises(RenderError, match="larger than its default limit"):
        QuotaPolicy(default_request_memory="1Gi", default_limit_memory="512Mi")


def test_under_a_quota_a_request_without_a_limit_gets_a_limit_no_lower_than_the_request():
    spec = everything()
    db = next(s for s in spec["services"] if s["name"] == "db")
    db["resources"] = {"requests": {"cpu": "2", "memory": "256Mi"}, "limits": {}}

    result = render_environment(spec, context(spec, quota=QuotaPolicy()))

    resources = container_of(by_kind(result, "Deployment")["db"])["resources"]
    # cpu: the request exceeds the 500m default limit, so the limit is the request;
    # memory: the 512Mi default limit is above the request and is written out as is
    assert resources == {"limits": {"cpu": "2", "memory": "512Mi"}, "requests": {"cpu": "2", "memory": "256Mi"}}


def test_a_limit_without_a_request_is_also_the_request():
    spec = everything()
    cache = next(s for s in spec["services"] if s["name"] == "cache")
    cache["resources"] = {"requests": {}, "limits": {"memory": "128Mi"}}

    rendered = render_environment(spec, context(spec))

    resources = container_of(by_kind(rendered, "Deployment")["cache"])["resources"]
    assert resources == {"limits": {"memory": "128Mi"}, "requests": {"memory": "128Mi"}}


# --- secrets and env ----------------------------------------------------------------------------


def test_secrets_are_opaque_base64_data_from_the_context_or_the_blueprint(result):
    secrets = by_kind(result, "Secret")

    assert set(secrets) == {"db-secrets", "legacy-db-secrets"}
    db = secrets["db-secrets"]
    assert db["type"] == "Opaque"
    assert "stringData" not in db
    assert base64.b64decode(db["data"]["db-password"]).decode() == "generated-db/db-password"
    # a literal value written in the blueprint is used when the caller passes none
    assert base64.b64decode(secrets["legacy-db-secrets"]["data"]["root-password"]).decode() == "s3cret"


def test_a_caller_value_overrides_a_literal_secret():
    spec = everything()
    ctx = context(spec)
    ctx = context(spec, secret_values={**ctx.secret_values, "legacy-db/root-password": "rotated"})

    result = render_environment(spec, ctx)

    data = by_kind(result, "Secret")["legacy-db-secrets"]["data"]
    assert base64.b64decode(data["root-password"]).decode() == "rotated"


def test_containers_read_secrets_by_reference_and_env_is_sorted(result):
    env = container_of(by_kind(result, "Deployment")["db"])["env"]

    assert [e["name"] for e in env] == sorted(e["name"] for e in env)
    assert {
        "name": "POSTGRES_PASSWORD",
        "valueFrom": {"secretKeyRef": {"name": "db-secrets", "key": "db-password"}},
    } in env
    assert {"name": "POSTGRES_DB", "value": "shop"} in env
    # a fresh disk's lost+found would stop initdb; data goes one directory down
    assert {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"} in env
    assert all("generated-" not in str(e) for e in env)


def test_a_secret_change_rolls_the_deployment_through_the_config_hash():
    spec = everything()
    before = render_environment(spec, context(spec))
    ctx = context(spec)
    after = render_environment(spec, context(spec, secret_values={**ctx.secret_values, "db/db-password": "new"}))

    def config_hash(result):
        return by_kind(result, "Deployment")["db"]["spec"]["template"]["metadata"]["annotations"]

    assert config_hash(before) != config_hash(after)
    assert by_kind(before, "Deployment")["cache"] == by_kind(after, "Deployment")["cache"]


# --- workloads ----------------------------------------------------------------------------------


def test_a_deployment_has_bounded_rollouts_and_selects_only_its_serving_pods(result):
    web = by_kind(result, "Deployment")["web"]
    spec = web["spec"]

    assert spec["progressDeadlineSeconds"] == 300
    assert spec["revisionHistoryLimit"] == 2
    assert spec["selector"]["matchLabels"] == {
        "app.kubernetes.io/component": "server",
        "app.kubernetes.io/name": "web",
        "microstax.io/environment": "env_abc123",
    }
    assert matches_selector(spec["selector"], spec["template"]["metadata"]["labels"])
    pod = spec["template"]["spec"]
    assert pod["enableServiceLinks"] is False
    assert pod["automountServiceAccountToken"] is False


def test_seed_pods_never_match_the_service_selector(result):
    service = by_kind(result, "Service")["db"]
    seed_pod_labels = job_of(result, "db")["spec"]["template"]["metadata"]["labels"]

    assert not matches_selector({"matchLabels": service["spec"]["selector"]}, seed_pod_labels)
    assert seed_pod_labels[SERVICE] == "db"


def test_compose_style_a_b_ports_map_service_port_to_container_port(result):
    web = by_kind(result, "Service")["web"]

    assert web["spec"]["type"] == "ClusterIP"
    assert web["spec"]["ports"] == [
        {"name": "tcp-80", "port": 80, "targetPort": 8080, "protocol": "TCP"},
        {"name": "metrics", "port": 9090, "targetPort": 9090, "protocol": "TCP"},
    ]
    ports = container_of(by_kind(result, "Deployment")["web"])["ports"]
    assert ports == [
        {"name": "tcp-80", "containerPort": 8080, "protocol": "TCP"},
        {"name": "metrics", "containerPort": 9090, "protocol": "TCP"},
    ]


def test_probes_of_all_three_kinds_keep_their_timings(result):
    db = container_of(by_kind(result, "Deployment")["db"])
    web = container_of(by_kind(result, "Deployment")["web"])

    assert db["readinessProbe"] == {
        "exec": {"command": ["pg_isready", "-U", "shop"]},
        "initialDelaySeconds": 0,
        "periodSeconds": 5,
        "timeoutSeconds": 1,
        "failureThreshold": 3,
    }
    assert db["livenessProbe"]["tcpSocket"] == {"port": 5432}
    assert db["livenessProbe"]["initialDelaySeconds"] == 10
    assert web["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": 8080, "scheme": "HTTP"}
    assert web["livenessProbe"]["httpGet"]["port"] == "metrics"
    assert web["livenessProbe"]["failureThreshold"] == 5


def test_command_and_args_replace_the_image_defaults(result):
    cache = container_of(by_kind(result, "Deployment")["cache"])

    assert cache["command"] == ["redis-server"]
    assert cache["args"] == ["--appendonly", "no"]


def test_volumes_become_claims_or_empty_dirs_and_claims_force_recreate(result):
    db = by_kind(result, "Deployment")["db"]["spec"]
    claim = by_kind(result, "PersistentVolumeClaim")["db-data"]

    assert claim["spec"] == {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "2Gi"}}}
    assert db["template"]["spec"]["volumes"] == [
        {"name": "data", "persistentVolumeClaim": {"claimName": "db-data"}},
        {"name": "sockets", "emptyDir": {"sizeLimit": "64Mi"}},
    ]
    assert container_of(by_kind(result, "Deployment")["db"])["volumeMounts"] == [
        {"name": "data", "mountPath": "/var/lib/postgresql/data"},
        {"name": "sockets", "mountPath": "/var/run/postgresql"},
    ]
    assert db["strategy"] == {"type": "Recreate"}
    cache = by_kind(result, "Deployment")["cache"]["spec"]
    assert cache["template"]["spec"]["volumes"] == [{"name": "scratch", "emptyDir": {}}]
    assert cache["strategy"]["type"] == "RollingUpdate"


def test_a_storage_class_from_the_context_is_set_on_claims():
    spec = everything()

    result = render_environment(spec, context(spec, storage_class="fast-ssd"))

    assert by_kind(result, "PersistentVolumeClaim")["db-data"]["spec"]["storageClassName"] == "fast-ssd"


def test_a_plan_overrides_replicas_and_resources():
    spec = everything(plan="production")

    result = render_environment(spec, context(spec))

    web = by_kind(result, "Deployment")["web"]
    assert web["spec"]["replicas"] == 3
    assert container_of(web)["resources"] == {
        "limits": {"cpu": "1", "memory": "1Gi"},
        "requests": {"cpu": "500m", "memory": "512Mi"},
    }


# --- seeds --------------------------------------------------------------------------------------


def test_a_postgres_seed_runs_psql_from_the_service_image_against_its_service(result):
    job = job_of(result, "db")
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}

    assert container["image"] == "postgres:16-alpine"
    assert container["command"][:2] == ["sh", "-c"]
    assert "pg_isready" in container["command"][2]
    assert "psql -v ON_ERROR_STOP=1 -f /seed/seed.sql" in container["command"][2]
    assert env["PGHOST"] == "db"
    assert env["PGPORT"] == "5432"
    assert env["PGUSER"] == "shop"
    assert env["PGDATABASE"] == "shop"
    assert env["PGPASSWORD"] == {"secretKeyRef": {"name": "db-secrets", "key": "db-password"}}
    assert pod["restartPolicy"] == "Never"
    assert pod["volumes"] == [{"name": "seed", "configMap": {"name": "db-seed"}}]
    assert job["spec"]["backoffLimit"] == 2
    assert "ttlSecondsAfterFinished" not in job["spec"]
    assert by_kind(result, "ConfigMap")["db-seed"]["data"] == {
        "seed.sql": "CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL);"
    }


def test_a_mariadb_seed_runs_the_mysql_client_with_the_root_password_from_the_secret(result):
    container = job_of(result, "legacy-db")["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}

    assert container["image"] == "mariadb:11"
    assert "mariadb-admin" in container["command"][2]
    assert env == {
        "DB_HOST": "legacy-db",
        "DB_PORT": "3306",
        "DB_USER": "root",
        "MYSQL_PWD": {"secretKeyRef": {"name": "legacy-db-secrets", "key": "root-password"}},
        "DB_NAME": "legacy",
    }
    # the script path's text came from the caller's files
    assert by_kind(result, "ConfigMap")["legacy-db-seed"]["data"] == {"seed.sql": FILES["seeds/legacy.sql"]}


def test_a_shell_seed_runs_in_the_service_image_with_its_environment(result):
    container = job_of(result, "web")["spec"]["template"]["spec"]["containers"][0]

    assert container["image"] == "ghcr.io/example/web:1.0.0"
    assert container["command"] == ["sh", "/seed/seed.sh"]
    assert {"name": "LOG_LEVEL", "value": "debug"} in container["env"]
    assert by_kind(result, "ConfigMap")["web-seed"]["data"] == {"seed.sh": FILES["scripts/warm-cache.sh"]}


def test_a_seed_script_that_was_not_supplied_renders_a_job_that_fails_clearly():
    spec = everything()
    files = {k: v for k, v in FILES.items() if k != "seeds/legacy.sql"}

    result = render_environment(spec, context(spec, files=files))

    container = job_of(result, "legacy-db")["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == FAILING_IMAGE
    assert "seeds/legacy.sql" in container["env"][0]["value"]
    assert "legacy-db-seed" not in by_kind(result, "ConfigMap")
    assert any("seeds/legacy.sql" in warning for warning in result.warnings)


def test_a_changed_seed_script_gets_a_new_job_name(result):
    spec = everything()
    files = {**FILES, "seeds/legacy.sql": "SELECT 1;"}

    changed = render_environment(spec, context(spec, files=files))

    assert job_of(changed, "legacy-db")["metadata"]["name"] != job_of(result, "legacy-db")["metadata"]["name"]
    assert job_of(changed, "db")["metadata"]["name"] == job_of(result, "db")["metadata"]["name"]


@pytest.mark.parametrize(
    ("image", "engine"),
    [
        ("postgres:16-alpine", "postgres"),
        ("docker.io/postgis/postgis:16-3.4", "postgres"),
        ("registry.local:5000/mysql:8.4", "mysql"),
        ("mariadb:11", "mysql"),
        ("redis:7", None),
        (None, None),
    ],
)
def test_the_database_engine_is_read_from_the_image_repository(image, engine):
    assert image_engine(image) == engine


# --- mocks --------------------------------------------------------------------------------------


def test_a_replacing_mock_runs_prism_on_the_service_ports_with_the_openapi_document(result):
    payments = by_kind(result, "Deployment")["payments"]["spec"]["template"]
    containers = payments["spec"]["containers"]

    assert [c["image"] for c in containers] == [PRISM_IMAGE]
    assert containers[0]["args"] == ["mock", "-h", "0.0.0.0", "-p", "8080", "/spec/openapi.yaml"]
    assert containers[0]["ports"] == [{"name": "tcp-8080", "containerPort": 8080, "protocol": "TCP"}]
    assert payments["spec"]["volumes"] == [{"name": "openapi", "configMap": {"name": "payments-openapi"}}]
    assert by_kind(result, "ConfigMap")["payments-openapi"]["data"] == {"openapi.yaml": FILES["specs/payments.yaml"]}
    assert by_kind(result, "Service")["payments"]["spec"]["ports"][0]["targetPort"] == 8080


def test_a_sidecar_mock_runs_beside_the_service_on_its_own_port(result):
    containers = by_kind(result, "Deployment")["search"]["spec"]["template"]["spec"]["containers"]

    assert [c["name"] for c in containers] == ["search", "mock"]
    assert containers[1]["ports"] == [{"name": "mock", "containerPort": 4010, "protocol": "TCP"}]
    assert [p["name"] for p in by_kind(result, "Service")["search"]["spec"]["ports"]] == ["http", "mock"]


def test_a_missing_openapi_document_serves_an_empty_api_with_a_warning():
    spec = everything()
    files = {k: v for k, v in FILES.items() if k != "specs/payments.yaml"}

    result = render_environment(spec, context(spec, files=files))

    document = by_kind(result, "ConfigMap")["payments-openapi"]["data"]["openapi.yaml"]
    assert document.startswith("openapi: 3.0.3")
    assert "paths: {}" in document
    assert any("specs/payments.yaml" in warning for warning in result.warnings)


def test_a_mirror_mock_is_not_rendered_and_says_so():
    spec = everything()
    search = next(s for s in spec["services"] if s["name"] == "search")
    search["mock"]["mode"] = "mirror"

    result = render_environment(spec, context(spec))

    containers = by_kind(result, "Deployment")["search"]["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["search"]
    assert "search-openapi" not in by_kind(result, "ConfigMap")
    assert any("mirror" in warning for warning in result.warnings)


def test_a_changed_openapi_document_rolls_the_mock(result):
    spec = everything()

    after = render_environment(spec, context(spec, files={**FILES, "specs/payments.yaml": "openapi: 3.1.0\n"}))

    def template_annotations(rendered):
        return by_kind(rendered, "Deployment")["payments"]["spec"]["template"]["metadata"]["annotations"]

    assert template_annotations(result) != template_annotations(after)


# --- routes -------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["traefik", "nginx"])
def test_an_ingress_routes_the_host_to_the_first_service_port(provider):
    spec = everything()

    result = render_environment(spec, context(spec, routing_provider=provider))

    ingress = by_kind(result, "Ingress")["web"]["spec"]
    assert ingress["ingressClassName"] == provider
    assert ingress["rules"] == [
        {
            "host": "web-shop-dev.dev.example.com",
            "http": {
                "paths": [
                    {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}
                ]
            },
        }
    ]
    assert not by_kind(result, "HTTPRoute")


def test_the_gateway_api_gets_an_http_route_attached_to_the_gateway():
    spec = everything()

    result = render_environment(spec, context(spec, routing_provider="gateway-api", gateway=("infra", "public")))

    route = by_kind(result, "HTTPRoute")["web"]
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert route["spec"] == {
        "parentRefs": [
            {"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": "infra", "name": "public"}
        ],
        "hostnames": ["web-shop-dev.dev.example.com"],
        "rules": [
            {
                "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                "backendRefs": [{"group": "", "kind": "Service", "name": "web", "port": 80}],
            }
        ],
    }
    assert not by_kind(result, "Ingress")


def test_a_sql_seed_for_a_custom_image_uses_the_engine_its_environment_names():
    spec = everything()
    legacy = next(s for s in spec["services"] if s["name"] == "legacy-db")
    legacy["image"] = "ghcr.io/example/legacy-store:3"
    legacy["secrets"] = []
    legacy["env"] = {"MYSQL_USER": "app", "MYSQL_PASSWORD": "app-pass", "MYSQL_DATABASE": "legacy"}

    result = render_environment(spec, context(spec))

    container = job_of(result, "legacy-db")["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert container["image"] == "mysql:8.4"
    assert env == {
        "DB_HOST": "legacy-db",
        "DB_PORT": "3306",
        "DB_USER": "app",
        "MYSQL_PWD": "app-pass",
        "DB_NAME": "legacy",
    }


def test_a_sql_seed_for_a_service_without_ports_fails_clearly():
    spec = everything()
    db = next(s for s in spec["services"] if s["name"] == "db")
    db["ports"] = []
    db["probes"] = {"readiness": None, "liveness": None}

    result = render_environment(spec, context(spec))

    container = job_of(result, "db")["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == FAILING_IMAGE
    assert "no TCP port" in container["env"][0]["value"]
    assert "db" not in by_kind(result, "Service")


def test_a_replacing_mock_skips_the_services_seed_secrets_and_claims():
    spec = everything()
    db = next(s for s in spec["services"] if s["name"] == "db")
    db["mock"] = {"enabled": True, "mode": "replace", "openapi": "specs/search.yaml"}

    result = render_environment(spec, context(spec, secret_values={}))

    assert not [name for name in by_kind(result, "Job") if name.startswith("db-seed")]
    assert "db-secrets" not in by_kind(result, "Secret")
    assert "db-data" not in by_kind(result, "PersistentVolumeClaim")
    assert any("db: the seed job is skipped" in warning for warning in result.warnings)
