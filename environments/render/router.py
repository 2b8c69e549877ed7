"""The mesh-free router: a small nginx in front of a baseline service that overlays change.

Takeover. While at least one overlay changes service ``X`` of a baseline, the baseline's
namespace holds, besides X's own Deployment:

* ``X-router`` — a ConfigMap with the nginx configuration and an nginx Deployment reading it;
* ``X-origin`` — a Service with X's ports selecting X's own pods (what ``X`` used to select);
* ``X`` — X's Service, **same name, same ports, same labels**, whose selector now picks the
  router pods. Callers keep using ``X`` (and ``X.<baseline-ns>`` through overlay bridges), so
  nobody is reconfigured. The router listens on X's *container* ports, so only the selector of
  ``X`` changes (``targetPort`` stays) and the switch is one field on one object.

nginx reads the routing key from the ``x-msx-env`` header, else from the ``msx-env`` member of
W3C ``baggage``, and proxies to the key's nearest provider of X (``X.<overlay-ns>``), or to
``X-origin`` for an absent or unknown key. It passes the key on (``x-msx-env`` set explicitly,
so a key that came in ``baggage`` only is normalized into the header) and counts hops in
``x-msx-hops``: a request that already crossed ``max_hops`` routers is answered ``508 Loop
Detected`` instead of being proxied again, so a misconfigured cycle ends after a bounded number
of hops instead of exhausting connections.

Revert. When the last overlay stops changing X, :func:`render_router` renders nothing; the
baseline's ordinary render (:func:`~environments.render.render_environment`) renders ``X`` with
its original selector again. Apply that first, then prune the router objects (``X-router`` and
``X-origin`` carry the baseline's labels, so prune-by-label finds them): the other order would
leave ``X`` selecting pods that are being deleted.

Cut-over order. :func:`~environments.render.header_routing.render_routing` puts the router, its
ConfigMap and ``X-origin`` in a wave that is awaited, and the switched ``X`` in a later one: the
router must be ready before ``X`` points at it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from microstax.kube.labels import ENVIRONMENT, SERVICE

from .config import content_hash
from .model import ProviderRef, RenderContext, RenderError
from .names import (
    COMPONENT,
    PART_OF,
    SERVER,
    dns_name,
    identity_labels,
    label_value,
    metadata,
    server_selector,
    service_labels,
)
from .render import live_services, published_ports
from .workloads import CONFIG_HASH, PROGRESS_DEADLINE_SECONDS, REVISION_HISTORY_LIMIT, pod_spec

ROUTER_IMAGE = "nginx:1.27-alpine"
# Router pods are not a blueprint service's pods: they carry no ``app.kubernetes.io/name`` (so
# logs, status and ownership by service never mix them in) but this label naming the service
# they route, plus the component ``router``.
ROUTER_FOR = "microstax.io/router-for"
ROUTER = "router"
HOPS_HEADER = "x-msx-hops"
DEFAULT_HEADER = "x-msx-env"
DEFAULT_MAX_HOPS = 4
BAGGAGE_MEMBER = "msx-env"
CLUSTER_DOMAIN = "cluster.local"
# nginx's resolver does not use resolv.conf search domains, so upstreams are fully qualified and
# resolved at request time (an overlay's Service may appear after the router starts, or be
# re-created with a new ClusterIP); ``valid`` bounds how long a stale address is used.
KUBE_DNS = f"kube-dns.kube-system.svc.{CLUSTER_DOMAIN}"
CONFIG_KEY = "nginx.conf"
CONFIG_DIR = "/etc/msx-router"
CONFIG_VOLUME = "config"
# Small and explicit, so a namespace under a compute quota admits the router without LimitRange
# defaults sized for application containers.
ROUTER_RESOURCES = {"limits": {"cpu": "200m", "memory": "64Mi"}, "requests": {"cpu": "10m", "memory": "16Mi"}}

_KEY = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?\Z")
_HEADER = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*\Z")
_UPSTREAM = re.compile(r"(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(?P<port>[0-9]{1,5})\Z")


@dataclass(frozen=True)
class RouterListener:
    """One port the router listens on, with where each routing key goes and the fallback.

    ``routes`` and ``default_upstream`` are ``host:port`` strings, so tests can point them at
    loopback servers and a cluster at ``<service>.<namespace>.svc.cluster.local:<port>``.
    """

    port: int
    routes: Mapping[str, str]
    default_upstream: str


def service_fqdn(service: str, namespace: str) -> str:
    """The cluster-wide DNS name of a Service."""
    return f"{service}.{namespace}.svc.{CLUSTER_DOMAIN}"


def router_name(service: str) -> str:
    return dns_name(service, "router")


def origin_name(service: str) -> str:
    return dns_name(service, "origin")


def router_peer_labels(service: str) -> dict[str, str]:
    """Labels every router pod of ``service`` carries, in whichever environment; for policies."""
    return {COMPONENT: ROUTER, ROUTER_FOR: service}


def router_selector(ctx: RenderContext, service: str) -> dict[str, str]:
    """Selects the router pods of ``service`` in this environment (immutable Deployment selector)."""
    return dict(sorted({**router_peer_labels(service), ENVIRONMENT: ctx.environment_id}.items()))


def router_labels(ctx: RenderContext, spec: Mapping[str, Any], service: str) -> dict[str, str]:
    """Identity labels plus the router's component, the routed service and the blueprint."""
    labels = {**identity_labels(ctx), **router_peer_labels(service), PART_OF: label_value(spec["name"])}
    return dict(sorted(labels.items()))


def header_variable(header_name: str) -> str:
    """nginx's variable for a request header (``x-msx-env`` → ``$http_x_msx_env``)."""
    return "$http_" + header_name.lower().replace("-", "_")


def _check_upstream(what: str, value: str) -> None:
    match = _UPSTREAM.match(value)
    if match is None or not 1 <= int(match["port"]) <= 65535:
        raise RenderError(f"{what} {value!r} is not host:port")


def _check_config_inputs(service: str, listeners: Sequence[RouterListener], header_name: str, max_hops: int) -> None:
    # Everything spliced into the configuration is checked against a strict pattern, so no value
    # can close a string or a block and inject directives.
    if not _KEY.match(service):
        raise RenderError(f"service {service!r} is not a valid name")
    if not _HEADER.match(header_name) or header_name.lower() in (HOPS_HEADER, "baggage", "host"):
        raise RenderError(f"routing header {header_name!r} cannot be used")
    if not 1 <= max_hops <= 32:
        raise RenderError(f"max_hops must be between 1 and 32, not {max_hops}")
    if not listeners:
        raise RenderError(f"router for {service!r} has no port to listen on")
    ports = [listener.port for listener in listeners]
    if len(set(ports)) != len(ports):
        raise RenderError(f"router for {service!r} would listen twice on one port: {sorted(ports)}")
    for listener in listeners:
        if not 1 <= listener.port <= 65535:
            raise RenderError(f"port {listener.port} is out of range")
        _check_upstream("default upstream", listener.default_upstream)
        for key, upstream in listener.routes.items():
            if not _KEY.match(key):
                raise RenderError(f"routing key {key!r} is not a valid key (letters, digits, '.', '_', '-')")
            _check_upstream(f"upstream of {key!r}", upstream)


def nginx_router_config_for(
    service: str,
    listeners: Sequence[RouterListener],
    *,
    header_name: str = DEFAULT_HEADER,
    max_hops: int = DEFAULT_MAX_HOPS,
    resolver: str | None = KUBE_DNS,
    listen_host: str | None = None,
    pid_file: str = "/tmp/nginx.pid",
) -> str:
    """A complete ``nginx.conf`` routing each listener's port by key (see the module docstring).

    ``resolver`` is the DNS server nginx asks at request time (``None`` when every upstream is
    an IP address, as in tests); ``listen_host`` binds the listeners to one address (tests use
    ``127.0.0.1``), otherwise they listen on every interface of the pod. Deterministic: keys and
    listeners are written in sorted order.
    """
    _check_config_inputs(service, listeners, header_name, max_hops)
    if resolver is not None and not _UPSTREAM.match(f"{resolver}:53"):
        raise RenderError(f"resolver {resolver!r} is not a host name or address")
    if listen_host is not None and not _UPSTREAM.match(f"{listen_host}:1"):
        raise RenderError(f"listen host {listen_host!r} is not a host name or address")
    if not re.fullmatch(r"/[A-Za-z0-9._/-]+", pid_file):
        raise RenderError(f"pid file {pid_file!r} is not an absolute path")
    header = header_variable(header_name)
    hops = header_variable(HOPS_HEADER)
    lines = [
        f"# MicroStax mesh-free router for service {service!r}; generated, do not edit.",
        "worker_processes 1;",
        f"pid {pid_file};",
        "error_log stderr warn;",
        "",
        "events {",
        "    worker_connections 1024;",
        "}",
        "",
        "http {",
        "    server_tokens off;",
        "    default_type text/plain;",
        '    log_format msx_router \'$remote_addr "$request" $status key="$msx_key" \'',
        "                          'upstream=$upstream_addr hops=$msx_next_hops';",
        "    access_log /dev/stdout msx_router;",
    ]
    if resolver is not None:
        lines += [f"    resolver {resolver} valid=10s ipv6=off;", "    resolver_timeout 5s;"]
    lines += [
        "",
        f"    # The key of a W3C baggage member {BAGGAGE_MEMBER}=<key> (properties after ';' ignored).",
        "    map $http_baggage $msx_baggage_key {",
        '        default "";',
        f'        "~(?:^|,)\\s*{BAGGAGE_MEMBER}\\s*=\\s*(?<msx_member>[^,;\\s]+)" $msx_member;',
        "    }",
        "",
        f"    # The routing key: the {header_name} header wins; without it, the baggage member.",
        f"    map {header} $msx_key {{",
        f"        default {header};",
        '        "" $msx_baggage_key;',
        "    }",
        "",
        f"    # {HOPS_HEADER} counts the routers a request has crossed. Below the limit it is",
        "    # incremented; a number at or above it (or beyond, as a client could send) is empty,",
        "    # which refuses the request. Anything else (absent, not a number) starts at 1.",
        f"    map {hops} $msx_next_hops {{",
        "        default 1;",
        *(f'        "{count}" {count + 1};' for count in range(max_hops)),
        '        "~^[0-9]+$" "";',
        "    }",
        "",
        "    # WebSocket upgrades (dev servers' live reload) pass through; other requests close.",
        "    map $http_upgrade $msx_connection {",
        "        default upgrade;",
        '        "" close;',
        "    }",
    ]
    for listener in sorted(listeners, key=lambda item: item.port):
        variable = f"$msx_upstream_{listener.port}"
        lines += [
            "",
            f"    map $msx_key {variable} {{",
            f'        default "{listener.default_upstream}";',
            *(f'        "{key}" "{listener.routes[key]}";' for key in sorted(listener.routes)),
            "    }",
        ]
    for listener in sorted(listeners, key=lambda item: item.port):
        address = f"{listen_host}:{listener.port}" if listen_host else str(listener.port)
        lines += [
            "",
            "    server {",
            f"        listen {address};",
            "        location / {",
            '            if ($msx_next_hops = "") {',
            f'                return 508 "loop detected: more than {max_hops} routing hops ({HOPS_HEADER})\\n";',
            "            }",
            # An upstream named by a variable is resolved per request (see KUBE_DNS above).
            f"            proxy_pass http://$msx_upstream_{listener.port};",
            "            proxy_http_version 1.1;",
            "            proxy_set_header Host $http_host;",
            # Set explicitly so a key that arrived only in baggage reaches the next hop as the
            # header too; an empty key removes the header instead of sending an empty one.
            f"            proxy_set_header {header_name} $msx_key;",
            f"            proxy_set_header {HOPS_HEADER} $msx_next_hops;",
            "            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
            "            proxy_set_header Upgrade $http_upgrade;",
            "            proxy_set_header Connection $msx_connection;",
            # Streaming responses (server-sent events, long polls) must not wait in a buffer.
            "            proxy_buffering off;",
            "            proxy_request_buffering off;",
            "            proxy_read_timeout 300s;",
            "            proxy_send_timeout 300s;",
            "        }",
            "    }",
        ]
    lines += ["}", ""]
    return "\n".join(lines)


def nginx_router_config(
    service: str,
    port: int,
    routes: Mapping[str, str],
    default_upstream: str,
    *,
    header_name: str = DEFAULT_HEADER,
    max_hops: int = DEFAULT_MAX_HOPS,
    resolver: str | None = KUBE_DNS,
    listen_host: str | None = None,
    pid_file: str = "/tmp/nginx.pid",
) -> str:
    """``nginx.conf`` of a router listening on one port; see :func:`nginx_router_config_for`.

    ``routes`` maps routing keys to ``host:port`` upstreams (each key's nearest provider: a
    key of an overlay that does not change the service maps to its ancestor's upstream);
    ``default_upstream`` serves requests without a key or with an unknown one.
    """
    return nginx_router_config_for(
        service,
        [RouterListener(port=port, routes=routes, default_upstream=default_upstream)],
        header_name=header_name,
        max_hops=max_hops,
        resolver=resolver,
        listen_host=listen_host,
        pid_file=pid_file,
    )


def routed_ports(ctx: RenderContext, spec: Mapping[str, Any], service: str) -> list[dict[str, Any]]:
    """The Service ports of a service the router can stand in front of (TCP only, one per pod port)."""
    services = live_services(spec)
    if service not in services:
        raise RenderError(f"unknown service {service!r}")
    ports = published_ports(ctx, spec, services[service])
    if not ports:
        raise RenderError(f"{service}: declares no port, so there is nothing to route")
    udp = [port["name"] for port in ports if port["protocol"] != "TCP"]
    if udp:
        raise RenderError(f"{service}: the router proxies HTTP over TCP; ports {', '.join(udp)} are not TCP")
    targets = [port["containerPort"] for port in ports]
    if len(set(targets)) != len(targets):
        raise RenderError(f"{service}: two Service ports target one container port; the router cannot tell them apart")
    return ports


def _check_names(spec: Mapping[str, Any], service: str) -> None:
    taken = set(live_services(spec))
    for name in (router_name(service), origin_name(service)):
        if name in taken:
            raise RenderError(f"{service}: the router needs the name {name!r}, which a service of the blueprint uses")


def _routes_for(ctx: RenderContext, service: str, routes: Mapping[str, ProviderRef]) -> dict[str, ProviderRef]:
    # A key whose nearest provider is this baseline itself is the default anyway; routing it to
    # ``X.<baseline-ns>`` would send it to the router again, so it is left out.
    return {key: ref for key, ref in sorted(routes.items()) if ref.namespace != ctx.namespace}


def router_listeners(
    ctx: RenderContext, spec: Mapping[str, Any], service: str, routes: Mapping[str, ProviderRef]
) -> list[RouterListener]:
    """One listener per container port: key → ``X.<provider-ns>:<port>``, default → ``X-origin``."""
    wanted = _routes_for(ctx, service, routes)
    return [
        RouterListener(
            port=port["containerPort"],
            routes={key: f"{service_fqdn(service, ref.namespace)}:{port['port']}" for key, ref in wanted.items()},
            default_upstream=f"{service_fqdn(origin_name(service), ctx.namespace)}:{port['port']}",
        )
        for port in routed_ports(ctx, spec, service)
    ]


def _service(
    name: str, ctx: RenderContext, labels: dict[str, str], selector: dict[str, str], ports: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(name, ctx, labels),
        "spec": {
            "type": "ClusterIP",
            "selector": selector,
            "ports": [
                {
                    "name": port["name"],
                    "port": port["port"],
                    "targetPort": port["containerPort"],
                    "protocol": port["protocol"],
                }
                for port in ports
            ],
        },
    }


def _policy(name: str, ctx: RenderContext, labels: dict[str, str], spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(name, ctx, labels),
        "spec": spec,
    }


def _router_policies(
    ctx: RenderContext,
    spec: Mapping[str, Any],
    service: dict[str, Any],
    ports: list[dict[str, Any]],
    routes: Mapping[str, ProviderRef],
) -> list[dict[str, Any]]:
    """Egress from the router to the overlays' pods of the service; the ingress controller to it.

    The egress rule names no ports: the overlay's container port may differ from the
    baseline's while the Service port (the contract) stays, and the overlay side admits only
    its own container ports from the router (:func:`~.bridges.router_ingress_policy`), so the
    pair together still allows exactly the overlay's serving ports.
    """
    name = service["name"]
    labels = router_labels(ctx, spec, name)
    namespaces = sorted({ref.namespace for ref in routes.values()})
    out = [
        _policy(
            dns_name("allow-router-egress", name),
            ctx,
            labels,
            {
                "podSelector": {"matchLabels": router_selector(ctx, name)},
                "egress": [
                    {
                        "to": [
                            {
                                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
                                "podSelector": {"matchLabels": {COMPONENT: SERVER, SERVICE: name}},
                            }
                            for namespace in namespaces
                        ]
                    }
                ],
                "policyTypes": ["Egress"],
            },
        )
    ]
    if service["expose"] and ctx.ingress_domain:
        controller = {"namespaceSelector": {"matchLabels": dict(sorted(ctx.ingress_namespace_labels.items()))}}
        # The baseline's Ingress/HTTPRoute still targets Service X, which now selects the router.
        out.append(
            _policy(
                dns_name("allow-ingress", name, ROUTER),
                ctx,
                labels,
                {
                    "podSelector": {"matchLabels": router_selector(ctx, name)},
                    "ingress": [
                        {
                            "from": [controller],
                            "ports": [{"port": ports[0]["containerPort"], "protocol": ports[0]["protocol"]}],
                        }
                    ],
                    "policyTypes": ["Ingress"],
                },
            )
        )
    return out


def _deployment(
    ctx: RenderContext, spec: Mapping[str, Any], name: str, ports: list[dict[str, Any]], config_hash: str
) -> dict[str, Any]:
    labels = router_labels(ctx, spec, name)
    container = {
        "name": ROUTER,
        "image": ROUTER_IMAGE,
        # Bypasses the image's entrypoint, whose scripts rewrite /etc/nginx/conf.d for a
        # default site we do not use.
        "command": ["nginx", "-c", f"{CONFIG_DIR}/{CONFIG_KEY}", "-g", "daemon off;"],
        "ports": [{"name": port["name"], "containerPort": port["containerPort"], "protocol": "TCP"} for port in ports],
        "readinessProbe": {"tcpSocket": {"port": ports[0]["containerPort"]}, "periodSeconds": 5},
        "resources": ROUTER_RESOURCES,
        "volumeMounts": [{"name": CONFIG_VOLUME, "mountPath": CONFIG_DIR, "readOnly": True}],
    }
    volumes = [{"name": CONFIG_VOLUME, "configMap": {"name": router_name(name)}}]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(router_name(name), ctx, labels),
        "spec": {
            "replicas": 1,
            "revisionHistoryLimit": REVISION_HISTORY_LIMIT,
            "progressDeadlineSeconds": PROGRESS_DEADLINE_SECONDS,
            "selector": {"matchLabels": router_selector(ctx, name)},
            # A new configuration must not drop requests: the old router serves until the new one is ready.
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                # The config hash rolls the pods when routes change: nginx reads its file once.
                "metadata": {"labels": labels, "annotations": {CONFIG_HASH: config_hash}},
                "spec": pod_spec([container], volumes),
            },
        },
    }


@dataclass(frozen=True)
class RouterObjects:
    """A routed service's objects split by cut-over order (see the module docstring)."""

    prepare: list[dict[str, Any]]
    switch: list[dict[str, Any]]

    @property
    def objects(self) -> list[dict[str, Any]]:
        return [*self.prepare, *self.switch]


def router_objects(
    spec: Mapping[str, Any],
    ctx: RenderContext,
    service: str,
    routes: Mapping[str, ProviderRef],
    *,
    header_name: str = DEFAULT_HEADER,
    max_hops: int = DEFAULT_MAX_HOPS,
) -> RouterObjects:
    """:func:`render_router`'s objects, split into what must be ready first and the switch."""
    wanted = _routes_for(ctx, service, routes)
    if not wanted:
        return RouterObjects(prepare=[], switch=[])
    _check_names(spec, service)
    ports = routed_ports(ctx, spec, service)
    listeners = router_listeners(ctx, spec, service, wanted)
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(router_name(service), ctx, router_labels(ctx, spec, service)),
        "data": {CONFIG_KEY: nginx_router_config_for(service, listeners, header_name=header_name, max_hops=max_hops)},
    }
    owned = service_labels(ctx, dict(spec), service)
    origin = _service(origin_name(service), ctx, owned, server_selector(ctx, service), ports)
    takeover = _service(service, ctx, owned, router_selector(ctx, service), ports)
    prepare = [
        *_router_policies(ctx, spec, live_services(spec)[service], ports, wanted),
        config_map,
        origin,
        _deployment(ctx, spec, service, ports, content_hash(config_map)),
    ]
    return RouterObjects(prepare=prepare, switch=[takeover])


def render_router(
    spec: Mapping[str, Any],
    ctx: RenderContext,
    service: str,
    routes: Mapping[str, ProviderRef],
    *,
    header_name: str = DEFAULT_HEADER,
    max_hops: int = DEFAULT_MAX_HOPS,
) -> list[dict[str, Any]]:
    """The router of one baseline service, in apply order; ``[]`` when no key routes elsewhere.

    ``spec`` and ``ctx`` are the *baseline's* (the objects carry its labels and are pruned with
    it); ``routes`` maps each routing key to the nearest provider of ``service`` for that key.
    Objects are unstamped (no spec-hash); :func:`~.header_routing.render_routing` stamps and
    orders them into waves.
    """
    return router_objects(spec, ctx, service, routes, header_name=header_name, max_hops=max_hops).objects
