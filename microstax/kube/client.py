"""One isolated API client per cluster, its discovery cache, and the raw request primitive.

Never ``config.load_*`` into the process-global default ``Configuration``: a control plane talks to
many clusters at once, and a global would let one cluster's credentials leak into another's calls.
Each ``ClusterConfig`` gets its own ``Configuration`` + ``ApiClient`` (and so its own urllib3 pool),
built once and cached by a fingerprint of the credentials, so rotating a token builds a new client.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import urllib3
import yaml
from kubernetes.client import ApiClient, Configuration
from kubernetes.config.config_exception import ConfigException
from kubernetes.config.incluster_config import SERVICE_CERT_FILENAME, SERVICE_TOKEN_FILENAME, InClusterConfigLoader
from kubernetes.config.kube_config import KubeConfigLoader
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from .errors import (
    CLIENT_EXCEPTIONS,
    KubeError,
    RetryPolicy,
    Terminal,
    UnknownKind,
    error_from_response,
    retry_with,
    translate,
)
from .metrics import count_error

T = TypeVar("T")
USER_AGENT = "microstax-kube/0.1"
# Watches and followed logs each hold a connection; the library default (5 per core) is too small
# for a log follow across a dozen pods and makes urllib3 warn and drop pooled connections.
POOL_SIZE = 32
# How long "this cluster does not serve kind X" is believed before discovery is asked again;
# without it every prune over optional kinds (HTTPRoute without Gateway API) re-ran discovery.
DISCOVERY_MISS_TTL = 60.0


@dataclass(frozen=True)
class ClusterConfig:
    """How to reach one cluster, as plain data (the Cluster model hands over decrypted values).

    Exactly one way in is used, in this order: ``in_cluster`` (the pod's service account),
    ``kubeconfig`` text (with optional ``context``), or ``api_url`` with ``token`` / ``ca_data``.
    """

    name: str = "default"
    api_url: str = ""
    kubeconfig: str = ""
    context: str | None = None
    in_cluster: bool = False
    token: str = ""
    ca_data: str = ""
    verify_ssl: bool = True
    connect_timeout: float = 5.0
    request_timeout: float = 30.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def fingerprint(self) -> str:
        """Stable digest of everything that decides where and as whom we connect."""
        parts = [self.name, self.api_url, self.kubeconfig, self.context or "", str(self.in_cluster)]
        parts += [self.token, self.ca_data, str(self.verify_ssl)]
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()


@dataclass(frozen=True)
class ResourceInfo:
    """Where a kind lives on the server: enough to build every path for it."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool

    def path(self, namespace: str | None = None, name: str | None = None, subresource: str | None = None) -> str:
        """``/apis/apps/v1/namespaces/ns/deployments/web`` and friends."""
        prefix = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        parts = [prefix]
        if self.namespaced and namespace:
            parts += ["namespaces", namespace]
        parts.append(self.plural)
        if name:
            parts.append(name)
            if subresource:
                parts.append(subresource)
        return "/".join(parts)


@dataclass(frozen=True)
class ServerVersion:
    """The answer of ``GET /version``."""

    major: str
    minor: str
    git_version: str
    platform: str = ""

    @property
    def minor_version(self) -> str:
        """``"1.33"`` — what kubernetes-validate and feature checks key on (minor may read ``33+``)."""
        return f"{self.major}.{self.minor.rstrip('+')}"


@dataclass(frozen=True)
class ClusterHealth:
    """Reachability of a cluster: ok, its version, the round-trip time, or why not."""

    ok: bool
    version: str = ""
    latency_ms: float = 0.0
    error: str = ""


def _configuration(config: ClusterConfig) -> Configuration:
    """A fresh ``Configuration`` for ``config``; the library's global default is never read or set."""
    conf = Configuration()
    try:
        if config.in_cluster:
            InClusterConfigLoader(SERVICE_TOKEN_FILENAME, SERVICE_CERT_FILENAME).load_and_set(conf)
        elif config.kubeconfig:
            document = yaml.safe_load(config.kubeconfig)
            if not isinstance(document, dict):
                raise Terminal("kubeconfig is not a YAML mapping", reason="InvalidKubeconfig")
            KubeConfigLoader(config_dict=document, active_context=config.context).load_and_set(conf)
        elif config.api_url:
            conf.host = config.api_url.rstrip("/")
            if config.token:
                conf.api_key = {"BearerToken": config.token}
                conf.api_key_prefix = {"BearerToken": "Bearer"}
            if config.ca_data:
                conf.ca_cert_data = config.ca_data
        else:
            raise Terminal(
                f"cluster {config.name!r} has no api_url, kubeconfig or in-cluster flag", reason="InvalidClusterConfig"
            )
    except (ConfigException, yaml.YAMLError) as exc:
        raise Terminal(f"cluster {config.name!r}: {exc}", reason="InvalidClusterConfig") from exc
    if not config.verify_ssl:
        conf.verify_ssl = False
    conf.connection_pool_maxsize = POOL_SIZE
    # urllib3's default Retry silently re-sends GETs answered 429/503 after sleeping the whole
    # Retry-After (120 s if the server says so) — invisible to our bounded, observable policy.
    # All retrying happens in errors.with_retries; urllib3 must send each request exactly once.
    conf.retries = urllib3.Retry(total=0, respect_retry_after_header=False)
    return conf


class KubeClient:
    """The isolated client of one cluster: raw requests, discovery, retries."""

    def __init__(self, config: ClusterConfig) -> None:
        self.config = config
        self.api = ApiClient(configuration=_configuration(config))
        self.api.user_agent = USER_AGENT
        self._lock = threading.Lock()
        self._dynamic: DynamicClient | None = None
        self._resources: dict[tuple[str, str], ResourceInfo] = {}
        self._missing: dict[tuple[str, str], float] = {}
        self._memo: dict[Any, tuple[float, Any]] = {}
        # A discovery cache file private to this client: the library's default file is keyed by
        # host only, so two emulators reusing a port (or two clusters behind one proxy) would
        # read each other's stale resource lists.
        self._cache_file = os.path.join(tempfile.gettempdir(), f"microstax-discovery-{uuid.uuid4().hex}.json")

    @property
    def retry(self) -> RetryPolicy:
        return self.config.retry

    @property
    def host(self) -> str:
        return self.api.configuration.host

    def close(self) -> None:
        """Release pooled connections and the discovery cache file."""
        self.api.close()
        try:
            os.remove(self._cache_file)
        except OSError:
            pass

    # -- requests ------------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None,
        body: Any,
        content_type: str | None,
        timeout: float | tuple[float, float] | None,
    ) -> urllib3.BaseHTTPResponse:
        headers = {"Accept": "application/json, */*"}
        if body is not None:
            headers["Content-Type"] = content_type or "application/json"
        params = [(key, _query_value(value)) for key, value in (query or {}).items() if value is not None]
        try:
            serialized = self.api.param_serialize(
                method, path, query_params=params, header_params=headers, body=body, auth_settings=["BearerToken"]
            )
            response = self.api.call_api(
                *serialized, _request_timeout=timeout or (self.config.connect_timeout, self.config.request_timeout)
            )
        except CLIENT_EXCEPTIONS as exc:
            error = translate(exc)
            count_error(self.config.name, error)
            raise error from exc
        raw = response.response
        if not 200 <= raw.status < 300:
            try:
                data = raw.data
            except CLIENT_EXCEPTIONS:
                data = b""
            finally:
                raw.release_conn()
            error = error_from_response(raw.status, data, raw.headers)
            count_error(self.config.name, error)
            raise error
        return raw

    def exchange(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str | None = None,
        timeout: float | tuple[float, float] | None = None,
    ) -> tuple[int, Any]:
        """One HTTP call, no retries: ``(status, decoded JSON body or text)``; raises ``KubeError``."""
        raw = self._send(method, path, query=query, body=body, content_type=content_type, timeout=timeout)
        try:
            data = raw.data
        except CLIENT_EXCEPTIONS as exc:
            raise translate(exc) from exc
        finally:
            raw.release_conn()
        if "json" in (raw.headers.get("Content-Type") or ""):
            return raw.status, (json.loads(data) if data else None)
        return raw.status, data.decode("utf-8", "replace")

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """``exchange`` without the status: the decoded body."""
        return self.exchange(method, path, **kwargs)[1]

    def call(self, method: str, path: str, *, deadline: float | None = None, **kwargs: Any) -> Any:
        """``request`` retried under this cluster's ``RetryPolicy``."""
        return retry_with(self.retry, lambda: self.request(method, path, **kwargs), deadline=deadline)

    def stream(
        self, path: str, *, query: Mapping[str, Any] | None = None, read_timeout: float | None = None
    ) -> urllib3.BaseHTTPResponse:
        """A streaming GET (watch, followed log). The caller must ``close()`` the response."""
        timeout = (self.config.connect_timeout, read_timeout) if read_timeout else (self.config.connect_timeout, None)
        return self._send("GET", path, query=query, body=None, content_type=None, timeout=timeout)  # type: ignore[arg-type]

    def memo(self, key: Any, ttl: float, compute: Callable[[], T]) -> T:
        """A per-cluster cached value (e.g. a StorageClass's binding mode), recomputed after ``ttl`` s."""
        hit = self._memo.get(key)
        if hit is not None and time.monotonic() - hit[0] < ttl:
            return hit[1]
        value = compute()
        self._memo[key] = (time.monotonic(), value)
        return value

    # -- discovery -----------------------------------------------------------------------------

    def _discovery(self) -> DynamicClient:
        if self._dynamic is None:
            self._dynamic = retry_with(self.retry, lambda: DynamicClient(self.api, cache_file=self._cache_file))
        return self._dynamic

    def resource(self, api_version: str, kind: str) -> ResourceInfo:
        """Where ``kind`` of ``api_version`` lives; discovered once per cluster, then from memory."""
        key = (api_version, kind)
        info = self._resources.get(key)
        if info is not None:
            return info
        with self._lock:
            if key not in self._resources:
                missed = self._missing.get(key)
                if missed is not None and time.monotonic() - missed < DISCOVERY_MISS_TTL:
                    raise UnknownKind(f"the cluster does not serve {kind} in {api_version}", reason="UnknownKind")
                try:
                    self._resources[key] = self._discover(api_version, kind)
                except UnknownKind:
                    self._missing[key] = time.monotonic()
                    raise
            return self._resources[key]

    def _discover(self, api_version: str, kind: str) -> ResourceInfo:
        dynamic = self._discovery()
        for refresh in (False, True):
            try:
                if refresh:
                    # A CRD installed after our first lookup: discovery is stale, not the request.
                    retry_with(self.retry, dynamic.resources.invalidate_cache)
                found = retry_with(self.retry, lambda: dynamic.resources.get(api_version=api_version, kind=kind))
            except ResourceNotFoundError:
                continue
            return ResourceInfo(api_version, kind, found.name, bool(found.namespaced))
        raise UnknownKind(f"the cluster does not serve {kind} in {api_version}", reason="UnknownKind")

    def resource_of(self, obj: Mapping[str, Any]) -> ResourceInfo:
        return self.resource(obj.get("apiVersion", ""), obj.get("kind", ""))


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


ClusterLike = ClusterConfig | KubeClient

_clients: dict[str, KubeClient] = {}
_clients_lock = threading.Lock()


def get_client(cluster: ClusterLike) -> KubeClient:
    """The cached ``KubeClient`` of ``cluster`` (built on first use)."""
    if isinstance(cluster, KubeClient):
        return cluster
    key = cluster.fingerprint()
    client = _clients.get(key)
    if client is None:
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                client = _clients[key] = KubeClient(cluster)
    return client


def forget_client(cluster: ClusterConfig) -> None:
    """Drop (and close) the cached client of ``cluster``, e.g. after its credentials changed."""
    with _clients_lock:
        client = _clients.pop(cluster.fingerprint(), None)
    if client is not None:
        client.close()


def close_all() -> None:
    """Close every cached client (process shutdown, end of a test session)."""
    with _clients_lock:
        clients = list(_clients.values())
        _clients.clear()
    for client in clients:
        client.close()


def server_version(cluster: ClusterLike) -> ServerVersion:
    """``GET /version`` of the cluster."""
    doc = get_client(cluster).call("GET", "/version")
    return ServerVersion(
        major=str(doc.get("major", "")),
        minor=str(doc.get("minor", "")),
        git_version=str(doc.get("gitVersion", "")),
        platform=str(doc.get("platform", "")),
    )


def health(cluster: ClusterLike) -> ClusterHealth:
    """Is the cluster reachable and serving? One ``/version`` round trip, never raises.

    ``/version`` rather than ``/readyz``: it proves the credentials work too, and ``/readyz`` is
    often closed to non-admin users.
    """
    started = time.perf_counter()
    try:
        # Inside the try: a config that cannot even build a client is unhealthy, not an exception.
        doc = get_client(cluster).request("GET", "/version", timeout=(2.0, 5.0))
    except KubeError as exc:
        return ClusterHealth(ok=False, latency_ms=(time.perf_counter() - started) * 1000, error=str(exc))
    return ClusterHealth(
        ok=True, version=str(doc.get("gitVersion", "")), latency_ms=(time.perf_counter() - started) * 1000
    )
