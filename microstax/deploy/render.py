"""The manifests that run the MicroStax control plane itself in a Kubernetes cluster.

A pure function from ``DeployOptions`` to a list of manifests (no ORM, no network);
``options_from_settings`` is the one place that reads Django settings, and ``manage.py
render_deploy`` only parses its flags and writes the YAML.

What is rendered, in apply order: the Namespace; the ServiceAccount, its long-lived token Secret (for
the kubeconfig the cluster is registered with) and the least RBAC (``rbac.RULES``); a ConfigMap of
the non-secret settings; the snapshot volume when snapshots are stored on files; the migrations Job
(named after the release, so each image migrates once); the web Deployment (daphne, probes on
``/healthz`` and ``/livez``), the worker Deployment (``qcluster``), their Service, Ingress and the
web PodDisruptionBudget. Both Deployments wait for the Job's migrations in an init container.

Secrets are referenced, never rendered: the pods mount the keys of one Secret (``SECRET_KEYS``)
as files and read them through the ``*_FILE`` variants of the settings, so no secret value sits in
a manifest, an environment variable or ``kubectl describe``.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from . import rbac

Obj = dict[str, Any]

NAME = "microstax"
FIELD_MANAGER = "microstax-render-deploy"
# Not "microstax": that value marks the environment namespaces MicroStax owns and may delete.
MANAGED_BY = "microstax-render-deploy"
PORT = 8000
UID = 10001  # the image's "microstax" user (see the Dockerfile)
SECRETS_DIR = "/etc/microstax/secrets"
VAR_DIR = "/var/lib/microstax"
SNAPSHOTS_DIR = f"{VAR_DIR}/snapshots"
CONFIG_HASH = "microstax.io/config-hash"

# Setting (read through its *_FILE variant) -> key of the Secret the operator creates.
SECRET_KEYS: dict[str, str] = {
    "SECRET_KEY": "secret-key",
    "DATABASE_URL": "database-url",
    "REDIS_URL": "redis-url",
    "MICROSTAX_ENCRYPTION_KEY": "encryption-key",
    "MICROSTAX_AUDIT_SIGNING_KEY": "audit-signing-key.pem",
}
# Referenced only when the settings use them.
METRICS_TOKEN_KEY = ("MICROSTAX_METRICS_TOKEN", "metrics-token")
S3_KEYS = (
    ("MICROSTAX_SNAPSHOT_S3_ACCESS_KEY_ID", "s3-access-key-id"),
    ("MICROSTAX_SNAPSHOT_S3_SECRET_ACCESS_KEY", "s3-secret-access-key"),
)

_LABEL_VALUE = re.compile(r"[^A-Za-z0-9._-]+")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_HOST = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


@dataclass(frozen=True)
class Resources:
    """Requests and limits of one container."""

    cpu_request: str
    memory_request: str
    cpu_limit: str
    memory_limit: str

    def as_spec(self) -> Obj:
        return {
            "requests": {"cpu": self.cpu_request, "memory": self.memory_request},
            "limits": {"cpu": self.cpu_limit, "memory": self.memory_limit},
        }


WEB_RESOURCES = Resources("250m", "384Mi", "1", "1Gi")
WORKER_RESOURCES = Resources("250m", "384Mi", "1", "1Gi")
# Migrations and the wait for them: one short-lived Python process each.
MIGRATE_RESOURCES = Resources("100m", "256Mi", "500m", "512Mi")


@dataclass(frozen=True)
class DeployOptions:
    """Everything the manifests depend on; ``options_from_settings`` fills it from settings and flags."""

    image: str
    host: str
    namespace: str = NAME
    replicas_web: int = 2
    replicas_worker: int = 2
    secret_name: str = NAME
    ingress_class: str = ""
    tls_secret: str = ""
    public_url: str = ""  # default: https://HOST
    snapshot_storage_url: str = ""  # s3://… is passed through; anything else puts files on a volume
    snapshot_s3_endpoint_url: str = ""
    snapshot_s3_region: str = ""
    snapshot_s3_credentials: bool = False
    snapshots_volume_size: str = "20Gi"
    snapshots_access_mode: str = "ReadWriteOnce"
    metrics_token: bool = False
    task_workers: int = 2
    task_timeout: int = 600
    log_level: str = "INFO"

    def __post_init__(self) -> None:
        problems = []
        if not _DNS_LABEL.match(self.namespace):
            problems.append(f"namespace {self.namespace!r} is not a DNS label")
        if not _HOST.match(self.host):
            problems.append(f"host {self.host!r} is not a DNS name")
        if not self.image or any(c.isspace() for c in self.image):
            problems.append(f"image {self.image!r} is not an image reference")
        if self.replicas_web < 1 or self.replicas_worker < 1:
            problems.append("replicas must be at least 1")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def url(self) -> str:
        return self.public_url or f"https://{self.host}"

    @property
    def snapshots_on_volume(self) -> bool:
        return not self.snapshot_storage_url.startswith("s3://")

    @property
    def release(self) -> str:
        """Names the migrations Job: a new image is a new release, migrated once."""
        return hashlib.sha256(self.image.encode()).hexdigest()[:10]

    @property
    def cluster_scoped_name(self) -> str:
        """ClusterRole/Binding name, unique per installation (one per namespace)."""
        return f"{NAME}-control-plane" if self.namespace == NAME else f"{NAME}-control-plane-{self.namespace}"

    def secret_keys(self) -> dict[str, str]:
        """Setting -> Secret key, for every secret this configuration reads."""
        keys = dict(SECRET_KEYS)
        if self.metrics_token:
            keys[METRICS_TOKEN_KEY[0]] = METRICS_TOKEN_KEY[1]
        if not self.snapshots_on_volume and self.snapshot_s3_credentials:
            keys.update(S3_KEYS)
        return keys


def options_from_settings(settings: Any, **overrides: Any) -> DeployOptions:
    """Options from Django settings, with command-line ``overrides`` (``None`` values are ignored)."""
    given = {k: v for k, v in overrides.items() if v is not None}
    public = urlsplit(settings.MICROSTAX_PUBLIC_URL)
    local = {"127.0.0.1", "localhost", "::1", ""}
    host = given.pop("host", None)
    if host is None:
        host = public.hostname if public.hostname not in local else ""
        host = host or next((h for h in settings.ALLOWED_HOSTS if h.lstrip(".") not in local and h != "*"), "")
        host = host.lstrip(".")
    if not host:
        raise ValueError("no public host: pass --host, or set MICROSTAX_PUBLIC_URL or ALLOWED_HOSTS")
    public_url = settings.MICROSTAX_PUBLIC_URL if public.hostname == host else ""
    storage = settings.MICROSTAX_SNAPSHOT_STORAGE_URL
    values: dict[str, Any] = {
        "image": settings.MICROSTAX_IMAGE,
        "host": host,
        "public_url": public_url,
        "snapshot_storage_url": storage if storage.startswith("s3://") else "",
        "snapshot_s3_endpoint_url": settings.MICROSTAX_SNAPSHOT_S3_ENDPOINT_URL or "",
        "snapshot_s3_region": settings.MICROSTAX_SNAPSHOT_S3_REGION or "",
        "snapshot_s3_credentials": bool(settings.MICROSTAX_SNAPSHOT_S3_ACCESS_KEY_ID),
        "metrics_token": bool(settings.MICROSTAX_METRICS_TOKEN),
        "task_workers": settings.Q_CLUSTER["workers"],
        "task_timeout": settings.Q_CLUSTER["timeout"],
    }
    values.update(given)
    return DeployOptions(**values)


# -- labels and shared pieces ---------------------------------------------------------------------


def label_value(value: str) -> str:
    """A label value (≤ 63 characters, alphanumeric at both ends) from free text such as an image tag."""
    return _LABEL_VALUE.sub("-", value)[:63].strip("-_.")


def image_version(image: str) -> str:
    """``ghcr.io/x/microstax:1.4.0`` → ``1.4.0``; a digest or no tag gives ``latest``/the digest prefix."""
    if "@" in image:
        return label_value(image.split("@", 1)[1].split(":")[-1][:12])
    last = image.rsplit("/", 1)[-1]
    return label_value(last.split(":", 1)[1]) if ":" in last else "latest"


def selector(opts: DeployOptions, component: str) -> dict[str, str]:
    """The immutable part of the labels: what Services, PDBs and Deployments select on."""
    return {
        "app.kubernetes.io/name": NAME,
        "app.kubernetes.io/instance": opts.namespace,
        "app.kubernetes.io/component": component,
    }


def labels(opts: DeployOptions, component: str) -> dict[str, str]:
    return {
        **selector(opts, component),
        "app.kubernetes.io/part-of": NAME,
        "app.kubernetes.io/version": image_version(opts.image) or "unknown",
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }


def metadata(opts: DeployOptions, name: str, component: str, *, namespaced: bool = True) -> Obj:
    md: Obj = {"name": name}
    if namespaced:
        md["namespace"] = opts.namespace
    md["labels"] = labels(opts, component)
    return md


def _env(opts: DeployOptions) -> list[Obj]:
    """Settings: non-secret ones from the ConfigMap, secret ones as ``*_FILE`` paths into the Secret volume."""
    env: list[Obj] = [{"name": "DJANGO_SETTINGS_MODULE", "value": "microstax.settings"}]
    env += [{"name": f"{setting}_FILE", "value": f"{SECRETS_DIR}/{key}"} for setting, key in opts.secret_keys().items()]
    return env


def _config(opts: DeployOptions) -> dict[str, str]:
    parsed = urlsplit(opts.url)
    origin = f"{parsed.scheme}://{parsed.netloc}"
    data = {
        "DEBUG": "false",
        "ALLOWED_HOSTS": opts.host,
        "CSRF_TRUSTED_ORIGINS": origin,
        "MICROSTAX_PUBLIC_URL": opts.url,
        # The image snapshot capture/restore Jobs run: the control plane's own.
        "MICROSTAX_IMAGE": opts.image,
        "MICROSTAX_VAR_DIR": VAR_DIR,
        "MICROSTAX_WORKERS": str(opts.task_workers),
        "MICROSTAX_TASK_TIMEOUT": str(opts.task_timeout),
        "LOG_LEVEL": opts.log_level,
        # Cookies only over HTTPS unless the public URL is plain HTTP (a lab cluster without TLS).
        "SESSION_COOKIE_SECURE": str(parsed.scheme == "https").lower(),
        "CSRF_COOKIE_SECURE": str(parsed.scheme == "https").lower(),
    }
    if opts.snapshots_on_volume:
        data["MICROSTAX_SNAPSHOT_STORAGE_URL"] = f"file://{SNAPSHOTS_DIR}"
    else:
        data["MICROSTAX_SNAPSHOT_STORAGE_URL"] = opts.snapshot_storage_url
        if opts.snapshot_s3_endpoint_url:
            data["MICROSTAX_SNAPSHOT_S3_ENDPOINT_URL"] = opts.snapshot_s3_endpoint_url
        if opts.snapshot_s3_region:
            data["MICROSTAX_SNAPSHOT_S3_REGION"] = opts.snapshot_s3_region
    return dict(sorted(data.items()))


def config_hash(opts: DeployOptions) -> str:
    """A digest of the ConfigMap's data and the Secret keys read, for the pod templates' annotation."""
    payload = json.dumps({"config": _config(opts), "secrets": opts.secret_keys()}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _container(opts: DeployOptions, name: str, args: list[str], resources: Resources) -> Obj:
    """One container of the image, with the settings, the writable scratch dirs and the secrets."""
    mounts = [
        {"name": "tmp", "mountPath": "/tmp"},
        {"name": "var", "mountPath": VAR_DIR},
        {"name": "secrets", "mountPath": SECRETS_DIR, "readOnly": True},
    ]
    if opts.snapshots_on_volume:
        mounts.append({"name": "snapshots", "mountPath": SNAPSHOTS_DIR})
    return {
        "name": name,
        "image": opts.image,
        "imagePullPolicy": "IfNotPresent",
        # command, not args: the image's CMD is only the default for `docker run`.
        "command": args,
        "envFrom": [{"configMapRef": {"name": f"{NAME}-config"}}],
        "env": _env(opts),
        "resources": resources.as_spec(),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": mounts,
    }


def _pod_spec(opts: DeployOptions, containers: list[Obj], *, init: list[Obj] | None = None) -> Obj:
    volumes: list[Obj] = [
        {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
        {"name": "var", "emptyDir": {"sizeLimit": "1Gi"}},
        {
            "name": "secrets",
            "secret": {
                "secretName": opts.secret_name,
                # Listed key by key: a missing key stops the pod at start, with the key's name.
                "items": [{"key": key, "path": key} for key in opts.secret_keys().values()],
                "defaultMode": 0o440,
            },
        },
    ]
    if opts.snapshots_on_volume:
        volumes.append({"name": "snapshots", "persistentVolumeClaim": {"claimName": f"{NAME}-snapshots"}})
    spec: Obj = {
        "serviceAccountName": NAME,
        # Clusters are reached through the kubeconfigs registered in the database, never through a
        # token mounted here: a pod compromise does not hand out the RBAC of this service account.
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": UID,
            "runAsGroup": UID,
            "fsGroup": UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": containers,
        "volumes": volumes,
    }
    if init:
        spec["initContainers"] = init
    return spec


def _wait_for_migrations(opts: DeployOptions) -> Obj:
    """Init container: start only once the release's migrations are applied (by the Job)."""
    return _container(
        opts,
        "wait-for-migrations",
        ["django-admin", "wait_for_migrations", "--timeout", "900"],
        MIGRATE_RESOURCES,
    )


# -- the objects ----------------------------------------------------------------------------------


def namespace(opts: DeployOptions) -> Obj:
    md = metadata(opts, opts.namespace, "control-plane", namespaced=False)
    # Every pod below meets the "restricted" Pod Security Standard; enforce it.
    md["labels"].update(
        {"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"}
    )
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": md}


def service_account(opts: DeployOptions) -> list[Obj]:
    account = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata(opts, NAME, "rbac"),
        "automountServiceAccountToken": False,
    }
    # A long-lived token the cluster registration's kubeconfig uses (the token controller fills it).
    token = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/service-account-token",
        "metadata": {
            **metadata(opts, f"{NAME}-token", "rbac"),
            "annotations": {"kubernetes.io/service-account.name": NAME},
        },
    }
    return [account, token]


def cluster_role(opts: DeployOptions) -> list[Obj]:
    name = opts.cluster_scoped_name
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": metadata(opts, name, "rbac", namespaced=False),
        "rules": rbac.policy_rules(),
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": metadata(opts, name, "rbac", namespaced=False),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": opts.namespace}],
    }
    return [role, binding]


def config_map(opts: DeployOptions) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(opts, f"{NAME}-config", "control-plane"),
        "data": _config(opts),
    }


def snapshots_volume(opts: DeployOptions) -> Obj:
    """Snapshot artifacts on files, shared by web (transfers) and workers.

    ReadWriteOnce, which every cluster offers (k3s's local-path included), binds the volume to one
    node: right for a single-node k3s. Pods on several nodes need S3 (``MICROSTAX_SNAPSHOT_STORAGE_URL``
    = ``s3://…``, then no volume is rendered) or a ReadWriteMany class (``snapshots_access_mode``).
    """
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": metadata(opts, f"{NAME}-snapshots", "control-plane"),
        "spec": {
            "accessModes": [opts.snapshots_access_mode],
            "resources": {"requests": {"storage": opts.snapshots_volume_size}},
        },
    }


def migrations_job(opts: DeployOptions) -> Obj:
    component = "migrations"
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(opts, f"{NAME}-migrate-{opts.release}", component),
        "spec": {
            "backoffLimit": 4,
            "activeDeadlineSeconds": 1800,
            # Re-applying after it is collected runs it again, which `migrate` makes a no-op.
            "ttlSecondsAfterFinished": 7 * 24 * 3600,
            "template": {
                "metadata": {"labels": labels(opts, component)},
                "spec": {
                    "restartPolicy": "Never",
                    # Migrations first (an init container), then the schedules the worker runs:
                    # without them nothing would ever expire, stop idle or recover a lost operation.
                    **_pod_spec(
                        opts,
                        [_container(opts, "schedules", ["django-admin", "install_schedules"], MIGRATE_RESOURCES)],
                        init=[
                            _container(opts, "migrate", ["django-admin", "migrate", "--no-input"], MIGRATE_RESOURCES)
                        ],
                    ),
                },
            },
        },
    }


def _spread(opts: DeployOptions, component: str) -> list[Obj]:
    """Replicas on different machines when there are several (best effort, never blocks scheduling)."""
    return [
        {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": selector(opts, component)},
        }
    ]


def web_deployment(opts: DeployOptions) -> Obj:
    component = "web"
    container = _container(
        opts,
        "web",
        ["daphne", "--bind", "0.0.0.0", "--port", str(PORT), "--proxy-headers", "microstax.asgi:application"],
        WEB_RESOURCES,
    )
    # Probes carry the public Host: the kubelet would otherwise send the pod IP, which ALLOWED_HOSTS refuses.
    host_header = [{"name": "Host", "value": opts.host}]
    container["ports"] = [{"name": "http", "containerPort": PORT, "protocol": "TCP"}]
    container["readinessProbe"] = {
        "httpGet": {"path": "/healthz", "port": "http", "httpHeaders": host_header},
        "periodSeconds": 10,
        "timeoutSeconds": 3,
        "failureThreshold": 3,
    }
    # Liveness does not touch the database: a database outage must not restart every web pod.
    container["livenessProbe"] = {
        "httpGet": {"path": "/livez", "port": "http", "httpHeaders": host_header},
        "periodSeconds": 20,
        "timeoutSeconds": 3,
        "failureThreshold": 3,
    }
    container["startupProbe"] = {
        "httpGet": {"path": "/livez", "port": "http", "httpHeaders": host_header},
        "periodSeconds": 2,
        "failureThreshold": 60,
    }
    pod = _pod_spec(opts, [container], init=[_wait_for_migrations(opts)])
    pod["topologySpreadConstraints"] = _spread(opts, component)
    return _deployment(opts, component, opts.replicas_web, pod)


def worker_deployment(opts: DeployOptions) -> Obj:
    component = "worker"
    container = _container(opts, "worker", ["django-admin", "qcluster"], WORKER_RESOURCES)
    pod = _pod_spec(opts, [container], init=[_wait_for_migrations(opts)])
    # Tasks are idempotent and re-queued when a worker dies; a minute lets most finish on shutdown.
    pod["terminationGracePeriodSeconds"] = 60
    pod["topologySpreadConstraints"] = _spread(opts, component)
    return _deployment(opts, component, opts.replicas_worker, pod)


def _deployment(opts: DeployOptions, component: str, replicas: int, pod: Obj) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(opts, f"{NAME}-{component}", component),
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": selector(opts, component)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {
                    "labels": labels(opts, component),
                    # Pods read the ConfigMap at start only: a changed configuration rolls them.
                    "annotations": {CONFIG_HASH: config_hash(opts)},
                },
                "spec": pod,
            },
        },
    }


def service(opts: DeployOptions) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(opts, f"{NAME}-web", "web"),
        "spec": {
            "type": "ClusterIP",
            "selector": selector(opts, "web"),
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def ingress(opts: DeployOptions) -> Obj:
    spec: Obj = {
        "rules": [
            {
                "host": opts.host,
                "http": {
                    "paths": [
                        {
                            "path": "/",
                            "pathType": "Prefix",
                            "backend": {"service": {"name": f"{NAME}-web", "port": {"name": "http"}}},
                        }
                    ]
                },
            }
        ]
    }
    if opts.ingress_class:
        spec["ingressClassName"] = opts.ingress_class
    if opts.tls_secret:
        spec["tls"] = [{"hosts": [opts.host], "secretName": opts.tls_secret}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": metadata(opts, NAME, "web"),
        "spec": spec,
    }


def web_disruption_budget(opts: DeployOptions) -> Obj:
    # maxUnavailable rather than minAvailable: with one replica a node drain still proceeds.
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(opts, f"{NAME}-web", "web"),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector(opts, "web")}},
    }


def render_deploy(opts: DeployOptions) -> list[Obj]:
    """Every object of a control-plane deployment, in apply order (namespace and RBAC first)."""
    objects: list[Obj] = [namespace(opts), *service_account(opts), *cluster_role(opts), config_map(opts)]
    if opts.snapshots_on_volume:
        objects.append(snapshots_volume(opts))
    objects += [
        migrations_job(opts),
        web_deployment(opts),
        worker_deployment(opts),
        service(opts),
        ingress(opts),
        web_disruption_budget(opts),
    ]
    return objects
