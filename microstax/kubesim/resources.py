"""The resource types kubesim serves: names, scope, verbs and subresources.

One ``ResourceType`` per REST resource, shaped like an entry of a real ``APIResourceList`` so that
discovery, routing, error messages ("deployments.apps \"web\" not found") and admission all read
from the same table.
"""

from __future__ import annotations

from dataclasses import dataclass

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
SUB_VERBS = ("get", "patch", "update")


@dataclass(frozen=True)
class ResourceType:
    """A REST resource such as ``deployments.apps/v1``."""

    kind: str
    plural: str
    group: str
    version: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    # Kinds whose storage strategy bumps metadata.generation on spec changes.
    has_generation: bool = False
    # Registries that answer DELETE with the object instead of a Status (pods, services).
    returns_deleted_object: bool = False
    # Status is only writable through the /status subresource.
    status_subresource: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def qualified(self) -> str:
        """The ``plural.group`` form used in messages, e.g. ``deployments.apps``."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def key(self) -> str:
        """Stable storage key: ``group/plural``."""
        return f"{self.group}/{self.plural}"

    @property
    def prefix(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        """The REST path of a collection or of one object."""
        parts = [self.prefix]
        if self.namespaced and namespace:
            parts.append(f"namespaces/{namespace}")
        parts.append(self.plural)
        if name:
            parts.append(name)
        return "/".join(parts)


def _rt(kind: str, plural: str, group: str = "", version: str = "v1", **kw: object) -> ResourceType:
    return ResourceType(kind=kind, plural=plural, group=group, version=version, **kw)  # type: ignore[arg-type]


RESOURCE_TYPES: tuple[ResourceType, ...] = (
    _rt(
        "Namespace",
        "namespaces",
        namespaced=False,
        short_names=("ns",),
        subresources=("status", "finalize"),
        verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
        returns_deleted_object=True,
        status_subresource=True,
    ),
    _rt(
        "Node",
        "nodes",
        namespaced=False,
        short_names=("no",),
        subresources=("status",),
        status_subresource=True,
    ),
    _rt(
        "PersistentVolume",
        "persistentvolumes",
        namespaced=False,
        short_names=("pv",),
        subresources=("status",),
        status_subresource=True,
    ),
    _rt("Secret", "secrets"),
    _rt("ConfigMap", "configmaps", short_names=("cm",)),
    _rt(
        "Service",
        "services",
        short_names=("svc",),
        subresources=("status",),
        categories=("all",),
        verbs=("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"),
        returns_deleted_object=True,
        status_subresource=True,
    ),
    _rt(
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        short_names=("pvc",),
        subresources=("status",),
        status_subresource=True,
    ),
    _rt("ResourceQuota", "resourcequotas", short_names=("quota",), subresources=("status",), status_subresource=True),
    _rt("LimitRange", "limitranges", short_names=("limits",)),
    _rt("ServiceAccount", "serviceaccounts", short_names=("sa",)),
    _rt(
        "Pod",
        "pods",
        short_names=("po",),
        subresources=("status", "log"),
        categories=("all",),
        returns_deleted_object=True,
        status_subresource=True,
    ),
    _rt("Event", "events", short_names=("ev",)),
    _rt(
        "Deployment",
        "deployments",
        "apps",
        short_names=("deploy",),
        subresources=("status", "scale"),
        categories=("all",),
        has_generation=True,
        status_subresource=True,
    ),
    _rt(
        "ReplicaSet",
        "replicasets",
        "apps",
        short_names=("rs",),
        subresources=("status", "scale"),
        categories=("all",),
        has_generation=True,
        status_subresource=True,
    ),
    _rt(
        "Job",
        "jobs",
        "batch",
        subresources=("status",),
        categories=("all",),
        has_generation=True,
        status_subresource=True,
    ),
    _rt(
        "Ingress",
        "ingresses",
        "networking.k8s.io",
        short_names=("ing",),
        subresources=("status",),
        has_generation=True,
        status_subresource=True,
    ),
    _rt("NetworkPolicy", "networkpolicies", "networking.k8s.io", short_names=("netpol",), has_generation=True),
    _rt("StorageClass", "storageclasses", "storage.k8s.io", namespaced=False, short_names=("sc",)),
    # What the control plane's own deployment applies (``render_deploy``): its RBAC and web PDB.
    _rt("ClusterRole", "clusterroles", "rbac.authorization.k8s.io", namespaced=False),
    _rt("ClusterRoleBinding", "clusterrolebindings", "rbac.authorization.k8s.io", namespaced=False),
    _rt(
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        "policy",
        short_names=("pdb",),
        subresources=("status",),
        has_generation=True,
        status_subresource=True,
    ),
    _rt(
        "HTTPRoute",
        "httproutes",
        "gateway.networking.k8s.io",
        subresources=("status",),
        categories=("gateway-api",),
        has_generation=True,
        status_subresource=True,
    ),
)

# Subresources whose kind differs from the parent's, as discovery reports them.
SUBRESOURCE_KINDS: dict[str, tuple[str, str, str]] = {
    # name: (group, version, kind)
    "scale": ("autoscaling", "v1", "Scale"),
    "log": ("", "v1", "Pod"),
}

_BY_GVR: dict[tuple[str, str, str], ResourceType] = {(r.group, r.version, r.plural): r for r in RESOURCE_TYPES}
_BY_GVK: dict[tuple[str, str], ResourceType] = {(r.api_version, r.kind): r for r in RESOURCE_TYPES}
_BY_KEY: dict[str, ResourceType] = {r.key: r for r in RESOURCE_TYPES}


def by_gvr(group: str, version: str, plural: str) -> ResourceType | None:
    return _BY_GVR.get((group, version, plural))


def by_kind(api_version: str, kind: str) -> ResourceType | None:
    return _BY_GVK.get((api_version, kind))


def by_key(key: str) -> ResourceType:
    return _BY_KEY[key]


def group_versions() -> dict[str, list[str]]:
    """Served group → versions, in a stable order (core group is ``""``)."""
    out: dict[str, list[str]] = {}
    for r in RESOURCE_TYPES:
        versions = out.setdefault(r.group, [])
        if r.version not in versions:
            versions.append(r.version)
    return out


NAMESPACE = _BY_KEY["/namespaces"]
POD = _BY_KEY["/pods"]
EVENT = _BY_KEY["/events"]
SERVICE = _BY_KEY["/services"]
SECRET = _BY_KEY["/secrets"]
CONFIGMAP = _BY_KEY["/configmaps"]
PVC = _BY_KEY["/persistentvolumeclaims"]
PV = _BY_KEY["/persistentvolumes"]
NODE = _BY_KEY["/nodes"]
QUOTA = _BY_KEY["/resourcequotas"]
LIMITRANGE = _BY_KEY["/limitranges"]
SERVICEACCOUNT = _BY_KEY["/serviceaccounts"]
DEPLOYMENT = _BY_KEY["apps/deployments"]
REPLICASET = _BY_KEY["apps/replicasets"]
JOB = _BY_KEY["batch/jobs"]
INGRESS = _BY_KEY["networking.k8s.io/ingresses"]
NETWORKPOLICY = _BY_KEY["networking.k8s.io/networkpolicies"]
STORAGECLASS = _BY_KEY["storage.k8s.io/storageclasses"]
HTTPROUTE = _BY_KEY["gateway.networking.k8s.io/httproutes"]
