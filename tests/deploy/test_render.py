"""``render_deploy``: the control plane's manifests, as data."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from microstax.deploy.render import (
    CONFIG_HASH,
    MANAGED_BY,
    SECRET_KEYS,
    SECRETS_DIR,
    DeployOptions,
    image_version,
    options_from_settings,
    render_deploy,
)
from microstax.kube import labels as L

from .helpers import HOST, IMAGE, objects, one, options, pod_specs


def test_renders_every_piece_of_the_control_plane_in_apply_order():
    kinds = [o["kind"] for o in objects()]

    assert kinds == [
        "Namespace",
        "ServiceAccount",
        "Secret",
        "ClusterRole",
        "ClusterRoleBinding",
        "ConfigMap",
        "PersistentVolumeClaim",
        "Job",
        "Deployment",
        "Deployment",
        "Service",
        "Ingress",
        "PodDisruptionBudget",
    ]


def test_every_object_carries_the_recommended_labels_and_never_the_environment_managed_by_value():
    for obj in objects():
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "microstax"
        assert labels["app.kubernetes.io/part-of"] == "microstax"
        assert labels["app.kubernetes.io/version"] == "1.4.0"
        assert labels["app.kubernetes.io/component"]
        # managed-by=microstax marks environment namespaces the fleet sweep may delete.
        assert labels[L.MANAGED_BY] == MANAGED_BY != L.MANAGED_BY_VALUE


def test_namespaced_objects_live_in_the_chosen_namespace():
    rendered = objects(namespace="platform")
    cluster_scoped = {"Namespace", "ClusterRole", "ClusterRoleBinding"}

    for obj in rendered:
        assert obj["metadata"].get("namespace") == (None if obj["kind"] in cluster_scoped else "platform")
    assert one(rendered, "ClusterRoleBinding")["subjects"] == [
        {"kind": "ServiceAccount", "name": "microstax", "namespace": "platform"}
    ]
    # Two installations in one cluster do not share their cluster-scoped names.
    assert one(rendered, "ClusterRole")["metadata"]["name"] == "microstax-control-plane-platform"


def test_workloads_run_the_image_as_web_worker_and_migrations():
    specs = pod_specs(objects())
    release = options().release

    assert specs["microstax-web"]["containers"][0]["command"][:1] == ["daphne"]
    assert "microstax.asgi:application" in specs["microstax-web"]["containers"][0]["command"]
    assert specs["microstax-worker"]["containers"][0]["command"] == ["django-admin", "qcluster"]
    # the Job migrates (an init container), then installs the worker's schedules
    job = specs[f"microstax-migrate-{release}"]
    assert [c["command"] for c in job["initContainers"]] == [["django-admin", "migrate", "--no-input"]]
    assert [c["command"] for c in job["containers"]] == [["django-admin", "install_schedules"]]
    for spec in specs.values():
        assert {c["image"] for c in spec["containers"] + spec.get("initContainers", [])} == {IMAGE}


def test_web_and_worker_wait_for_the_migrations_of_their_release():
    specs = pod_specs(objects())

    for name in ("microstax-web", "microstax-worker"):
        (init,) = specs[name]["initContainers"]
        assert init["command"][:2] == ["django-admin", "wait_for_migrations"]


def test_the_migrations_job_is_named_after_the_release_so_each_image_migrates_once():
    first = one(objects(), "Job")["metadata"]["name"]
    again = one(objects(), "Job")["metadata"]["name"]
    upgraded = one(objects(image="ghcr.io/microstax/microstax:1.5.0"), "Job")["metadata"]["name"]

    assert first == again != upgraded
    assert one(objects(), "Job")["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_every_pod_is_locked_down():
    for name, spec in pod_specs(objects()).items():
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] != 0, name
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert spec["automountServiceAccountToken"] is False, name
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert "emptyDir" in volumes["tmp"], name
        for container in spec["containers"] + spec.get("initContainers", []):
            sc = container["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["capabilities"] == {"drop": ["ALL"]}, name
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"], name
            resources = container["resources"]
            assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}, name


def test_secrets_are_mounted_files_read_through_the_file_variants_never_values():
    rendered = objects()
    web = pod_specs(rendered)["microstax-web"]
    container = web["containers"][0]

    secret_volume = next(v for v in web["volumes"] if v["name"] == "secrets")["secret"]
    assert secret_volume["secretName"] == "microstax"
    assert [item["key"] for item in secret_volume["items"]] == list(SECRET_KEYS.values())
    env = {e["name"]: e for e in container["env"]}
    for setting, key in SECRET_KEYS.items():
        assert setting not in env
        assert env[f"{setting}_FILE"] == {"name": f"{setting}_FILE", "value": f"{SECRETS_DIR}/{key}"}
    # The only Secret rendered is the service account's token, which the cluster fills in.
    (secret,) = [o for o in rendered if o["kind"] == "Secret"]
    assert secret["type"] == "kubernetes.io/service-account-token"
    assert "data" not in secret and "stringData" not in secret
    assert not set(SECRET_KEYS) & set(one(rendered, "ConfigMap")["data"])


def test_optional_secrets_are_referenced_only_when_the_settings_use_them():
    plain = options()
    with_all = options(metrics_token=True, snapshot_storage_url="s3://bucket/prefix", snapshot_s3_credentials=True)

    assert "metrics-token" not in plain.secret_keys().values()
    assert {"metrics-token", "s3-access-key-id", "s3-secret-access-key"} <= set(with_all.secret_keys().values())


def test_the_config_map_points_the_settings_at_the_public_host():
    data = one(objects(), "ConfigMap")["data"]

    assert data["DEBUG"] == "false"
    assert data["ALLOWED_HOSTS"] == HOST
    assert data["MICROSTAX_PUBLIC_URL"] == f"https://{HOST}"
    assert data["CSRF_TRUSTED_ORIGINS"] == f"https://{HOST}"
    assert data["MICROSTAX_IMAGE"] == IMAGE
    assert data["SESSION_COOKIE_SECURE"] == "true"


def test_snapshots_on_files_get_a_volume_and_on_s3_none():
    on_files = objects()
    on_s3 = objects(snapshot_storage_url="s3://bucket/snapshots")

    assert one(on_files, "ConfigMap")["data"]["MICROSTAX_SNAPSHOT_STORAGE_URL"].startswith("file:///var/lib/microstax")
    assert one(on_files, "PersistentVolumeClaim")["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert one(on_s3, "ConfigMap")["data"]["MICROSTAX_SNAPSHOT_STORAGE_URL"] == "s3://bucket/snapshots"
    assert not [o for o in on_s3 if o["kind"] == "PersistentVolumeClaim"]


def test_web_probes_hit_the_health_endpoints_with_the_public_host():
    container = pod_specs(objects())["microstax-web"]["containers"][0]

    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["httpHeaders"] == [{"name": "Host", "value": HOST}]
        assert container[probe]["httpGet"]["port"] == "http"


def test_service_ingress_and_budget_select_the_web_pods():
    rendered = objects(replicas_web=3, ingress_class="traefik", tls_secret="microstax-tls")
    web = one(rendered, "Deployment", "microstax-web")
    pod_labels = web["spec"]["template"]["metadata"]["labels"]

    assert web["spec"]["replicas"] == 3
    assert one(rendered, "Service")["spec"]["selector"].items() <= pod_labels.items()
    assert one(rendered, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert one(rendered, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    ingress = one(rendered, "Ingress")["spec"]
    assert ingress["ingressClassName"] == "traefik"
    assert ingress["tls"] == [{"hosts": [HOST], "secretName": "microstax-tls"}]
    assert ingress["rules"][0]["host"] == HOST
    assert ingress["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == "microstax-web"


def test_deployment_selectors_match_their_templates_and_leave_out_the_version():
    for obj in objects():
        if obj["kind"] != "Deployment":
            continue
        selector = obj["spec"]["selector"]["matchLabels"]
        assert selector.items() <= obj["spec"]["template"]["metadata"]["labels"].items()
        assert "app.kubernetes.io/version" not in selector


@pytest.mark.parametrize(
    ("image", "version"),
    [
        ("ghcr.io/microstax/microstax:1.4.0", "1.4.0"),
        ("localhost:5000/microstax", "latest"),
        ("microstax@sha256:0123456789abcdef0123", "0123456789ab"),
    ],
)
def test_the_version_label_comes_from_the_image_tag(image, version):
    assert image_version(image) == version


@pytest.mark.parametrize(
    "overrides",
    [{"namespace": "Not_A_Label"}, {"host": "bad host"}, {"replicas_web": 0}, {"image": ""}],
)
def test_bad_options_are_refused(overrides):
    with pytest.raises(ValueError):
        options(**overrides)


def _settings(**overrides):
    values = {
        "MICROSTAX_PUBLIC_URL": "https://msx.corp.example",
        "ALLOWED_HOSTS": ["msx.corp.example"],
        "MICROSTAX_IMAGE": "registry.corp.example/microstax:2.0.0",
        "MICROSTAX_SNAPSHOT_STORAGE_URL": "file:///var/snapshots",
        "MICROSTAX_SNAPSHOT_S3_ENDPOINT_URL": None,
        "MICROSTAX_SNAPSHOT_S3_REGION": None,
        "MICROSTAX_SNAPSHOT_S3_ACCESS_KEY_ID": None,
        "MICROSTAX_METRICS_TOKEN": "",
        "Q_CLUSTER": {"workers": 4, "timeout": 300},
    }
    return SimpleNamespace(**{**values, **overrides})


def test_options_come_from_settings_and_flags_win():
    from_settings = options_from_settings(_settings())
    flagged = options_from_settings(_settings(), host="other.example", replicas_web=5, namespace=None)

    assert (from_settings.host, from_settings.image, from_settings.url) == (
        "msx.corp.example",
        "registry.corp.example/microstax:2.0.0",
        "https://msx.corp.example",
    )
    assert from_settings.task_workers == 4 and from_settings.task_timeout == 300
    assert (flagged.host, flagged.url, flagged.replicas_web, flagged.namespace) == (
        "other.example",
        "https://other.example",
        5,
        "microstax",
    )


def test_a_loopback_public_url_is_not_a_host_to_deploy_on():
    settings = _settings(MICROSTAX_PUBLIC_URL="http://127.0.0.1:8000", ALLOWED_HOSTS=["localhost", "127.0.0.1"])

    with pytest.raises(ValueError, match="--host"):
        options_from_settings(settings)


def test_rendering_is_pure_and_deterministic():
    opts = DeployOptions(image=IMAGE, host=HOST)

    assert render_deploy(opts) == render_deploy(opts)


def test_a_changed_configuration_rolls_the_deployments():
    def hashes(**overrides):
        return {
            o["metadata"]["name"]: o["spec"]["template"]["metadata"]["annotations"][CONFIG_HASH]
            for o in objects(**overrides)
            if o["kind"] == "Deployment"
        }

    assert hashes() == hashes()
    assert hashes()["microstax-web"] != hashes(host="other.example.com")["microstax-web"]
    assert hashes()["microstax-worker"] != hashes(metrics_token=True)["microstax-worker"]
