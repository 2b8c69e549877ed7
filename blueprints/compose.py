"""Import a Docker Compose file as a MicroStax blueprint.

:func:`import_compose` maps what has a meaning on Kubernetes and reports, as warnings naming the
service and key, everything that does not:

==========================  =====================================================================
Compose                     Blueprint
==========================  =====================================================================
``image``                   ``image`` (``build`` without ``image`` is an error: push an image first)
``ports`` (short and long)  ``ports``: ``"8080:80"`` → Service port 8080 in front of container
                            port 80 (the host binding does not apply: warned); published ports of
                            non-datastore images set ``expose: true``
``expose``                  container ports
``environment``             ``env`` (map and ``KEY=VALUE`` list forms; host pass-through dropped)
``entrypoint``/``command``  ``command``/``args`` (strings are split like a shell would)
``depends_on``/``links``    ``dependsOn`` (list and condition-map forms)
``volumes``                 named volumes → ``pvc`` of 1Gi; bind mounts and tmpfs → ``emptyDir``
``healthcheck``             readiness probe (``CMD`` → exec, ``CMD-SHELL``/string → ``sh -c``)
``deploy``                  ``replicas``; ``resources.limits``/``reservations`` → limits/requests
``scale``, ``cpus``,        ``replicas`` and resources (Compose byte units are binary: 512M → 512Mi)
``mem_limit``, …
==========================  =====================================================================

Service and volume names are made DNS-safe (``my_app`` → ``my-app``, warned). The generated
blueprint is validated with :func:`blueprints.validation.validate_blueprint`; if it is not valid
the import fails with those problems. Never raises.
"""

from __future__ import annotations

import math
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

import yaml

from blueprints.locator import Locator
from blueprints.parsing import ParsedDocument, Path, Position, format_path, parse_yaml, scalar_text
from blueprints.problems import Problem, sort_problems
from blueprints.quantities import canonical_bytes, canonical_cpu
from blueprints.validation import validate_blueprint

DEFAULT_VOLUME_SIZE = "1Gi"
MAX_PORT_RANGE = 100
DATASTORE_IMAGES = frozenset(
    {
        "postgres", "postgis", "mysql", "mariadb", "mongo", "mongodb", "redis", "valkey", "memcached",
        "rabbitmq", "elasticsearch", "opensearch", "cassandra", "kafka", "zookeeper", "nats",
        "clickhouse-server", "cockroach", "etcd", "influxdb", "neo4j", "couchdb", "mssql-server",
    }
)  # fmt: skip
_UNSUPPORTED = {
    "networks": "networks do not apply; every service of an environment reaches the others by name",
    "network_mode": "network modes do not apply on Kubernetes",
    "privileged": "privileged containers are not allowed in environments",
    "cap_add": "extra Linux capabilities are not granted in environments",
    "cap_drop": "capability settings are not supported",
    "extra_hosts": "extra host entries are not supported",
    "devices": "host devices are not available",
    "pid": "sharing the host PID namespace is not allowed",
    "ipc": "IPC namespace settings are not supported",
    "security_opt": "security options are not supported",
    "container_name": "the service name is the host name; other services must use it",
    "hostname": "the service name is the host name; other services must use it",
    "env_file": "env files cannot be read by the import; add their variables under 'env'",
    "secrets": "Compose secrets are files; declare blueprint 'secrets' (value: auto-generated) instead",
    "configs": "Compose configs are not supported",
    "user": "the container user cannot be set in a blueprint",
    "working_dir": "the working directory cannot be set in a blueprint",
    "volumes_from": "sharing another service's volumes is not supported",
    "external_links": "external links are not supported",
    "profiles": "profiles are not supported; every service is imported",
}
_SILENT = frozenset({"image", "build", "restart", "labels", "logging", "stop_grace_period", "stop_signal", "tty",
                     "stdin_open", "init", "pull_policy", "platform"})  # fmt: skip
_COMPOSE_BYTES = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*([bkmgt]?)b?\Z", re.IGNORECASE)
_COMPOSE_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)(us|ms|s|m|h)")
_BYTE_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


@dataclass
class ComposeImport:
    """The result of :func:`import_compose`.

    ``yaml`` and ``blueprint`` are empty when the import failed; ``problems`` then holds the
    errors. ``warnings`` lists what could not be carried over (and lint warnings of the result).
    """

    yaml: str = ""
    blueprint: dict[str, Any] = field(default_factory=dict)
    warnings: list[Problem] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and bool(self.yaml)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "yaml": self.yaml,
            "blueprint": self.blueprint,
            "warnings": [p.to_dict() for p in self.warnings],
            "problems": [p.to_dict() for p in self.problems],
        }


def import_compose(text: str, *, name: str | None = None) -> ComposeImport:
    """Convert Compose YAML into a blueprint; never raises (failures are problems)."""
    try:
        return _Importer(text, name).run()
    except Exception as exc:  # noqa: BLE001 - the importer must answer, whatever the input
        problem = Problem.make(
            "MSX-E030",
            f"the Compose file could not be imported because of an internal error ({type(exc).__name__}); "
            "please report this with the file attached",
        )
        return ComposeImport(problems=[problem])


def dns_name(value: str, fallback: str = "service") -> str:
    """A DNS-1123 label made from any text: ``My_App`` → ``my-app``."""
    name = re.sub(r"[^a-z0-9-]+", "-", value.lower()).strip("-")
    name = re.sub(r"-{2,}", "-", name)[:63].strip("-")
    return name or fallback


def compose_bytes(value: Any) -> int:
    """Compose byte values (``512m``, ``1gb``, ``1073741824``); units are powers of 1024."""
    match = _COMPOSE_BYTES.match(scalar_text(value).strip())
    if match is None:
        raise ValueError(f"{scalar_text(value)!r} is not a size")
    return math.ceil(float(match[1]) * _BYTE_UNITS[match[2].lower()])


def compose_seconds(value: Any) -> int:
    """Compose durations (``1m30s``, ``500ms``, ``10s``) rounded up to whole seconds (at least 1)."""
    text = scalar_text(value).strip()
    parts = _COMPOSE_DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"{text!r} is not a duration")
    scale = {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    return max(1, math.ceil(sum(float(n) * scale[u] for n, u in parts)))


class _Importer:
    """One import: the Compose document, the blueprint being built and the problems found."""

    def __init__(self, text: str, name: str | None) -> None:
        self.text = text
        self.name = name
        self.doc: ParsedDocument = parse_yaml(text)
        self.locator = Locator(self.doc)
        self.warnings: list[Problem] = []
        self.errors: list[Problem] = []
        self.renamed: dict[str, str] = {}

    # -- reporting ---------------------------------------------------------------------------
    def _at(self, path: Path, *, at_key: bool = True) -> Position:
        return self.doc.positions.locate(path, at_key=at_key)

    def warn(self, code: str, message: str, path: Path, *, at_key: bool = True) -> None:
        self.warnings.append(
            Problem.make(code, message, path=format_path(path), position=self._at(path, at_key=at_key))
        )

    def error(self, code: str, message: str, path: Path) -> None:
        self.errors.append(Problem.make(code, message, path=format_path(path), position=self._at(path)))

    def _failed(self) -> ComposeImport:
        return ComposeImport(warnings=sort_problems(self.warnings), problems=sort_problems(self.errors))

    # -- the document ------------------------------------------------------------------------
    def run(self) -> ComposeImport:
        if not self.doc.ok or any(p.is_error for p in self.doc.problems):
            self.errors.extend(p for p in self.doc.problems if p.is_error)
            return self._failed()
        data = self.doc.data
        services = data.get("services") if isinstance(data, dict) else None
        if not isinstance(services, dict) or not services:
            self.error("MSX-E101", "the Compose file defines no services (expected a 'services' mapping)", ())
            return self._failed()
        for key in data:
            if key in {"services", "volumes", "version", "name"} or str(key).startswith("x-"):
                continue
            reason = _UNSUPPORTED.get(key, "it has no equivalent in a blueprint")
            self.warn("MSX-L101", f"top-level '{key}' was ignored: {reason}", (key,))
        declared_volumes = data.get("volumes") if isinstance(data.get("volumes"), dict) else {}
        self._plan_names(services)
        usage: dict[str, list[str]] = {}
        converted = []
        for key, body in services.items():
            service = self._service(key, body, declared_volumes, usage)
            if service is not None:
                converted.append(service)
        for volume, users in usage.items():
            if len(users) > 1:
                self.warn(
                    "MSX-L101",
                    f"volume {volume!r} is shared by {', '.join(users)}; each service gets its own volume",
                    ("volumes", volume) if volume in declared_volumes else ("services", users[0]),
                )
        if self.errors:
            return self._failed()
        blueprint = {
            "name": self._blueprint_name(data),
            "description": "Imported from a Docker Compose file",
            "services": converted,
        }
        return self._finish(blueprint)

    def _blueprint_name(self, data: dict[str, Any]) -> str:
        given = self.name if self.name is not None else data.get("name")
        if not isinstance(given, str) or not given.strip():
            return "imported"
        name = dns_name(given, "imported")
        if name != given:
            self.warn("MSX-L104", f"blueprint name {given!r} became {name!r} (names must be DNS labels)", ("name",))
        return name

    def _plan_names(self, services: dict[str, Any]) -> None:
        taken: dict[str, str] = {}
        for key in services:
            name = dns_name(str(key))
            if name in taken:
                self.error(
                    "MSX-E102",
                    f"services {taken[name]!r} and {key!r} would both be named {name!r}; rename one",
                    ("services", key),
                )
                continue
            taken[name] = key
            self.renamed[key] = name
            if name != key:
                self.warn(
                    "MSX-L104",
                    f"service {key!r} was renamed {name!r} (service names must be DNS labels); "
                    "update host names that other services use to reach it",
                    ("services", key),
                )

    def _finish(self, blueprint: dict[str, Any]) -> ComposeImport:
        text = yaml.safe_dump(blueprint, sort_keys=False, default_flow_style=False, allow_unicode=True, width=100)
        result = validate_blueprint(text)
        keys = list(self.renamed)
        for problem in result.problems:
            match = re.match(r"services\[(\d+)\]", problem.path)
            index = int(match[1]) if match else None
            position = self._at(("services", keys[index])) if index is not None and index < len(keys) else None
            moved = Problem.make(problem.code, problem.message, path=problem.path, position=position)
            (self.errors if problem.is_error else self.warnings).append(moved)
        if self.errors:
            return self._failed()
        return ComposeImport(yaml=text, blueprint=blueprint, warnings=sort_problems(self.warnings))

    # -- one service -------------------------------------------------------------------------
    def _service(
        self, key: str, body: Any, declared_volumes: dict[str, Any], usage: dict[str, list[str]]
    ) -> dict[str, Any] | None:
        base: Path = ("services", key)
        if key not in self.renamed:
            return None
        if body is None:
            body = {}
        if not isinstance(body, dict):
            self.error("MSX-E102", f"service {key!r} must be a mapping of settings", base)
            return None
        out: dict[str, Any] = {"name": self.renamed[key]}
        image = body.get("image")
        if not isinstance(image, str) or not image.strip():
            if "build" in body:
                self.error(
                    "MSX-E102",
                    f"service {key!r} is built from source ('build') and has no 'image'; build and push "
                    "the image to a registry, then set 'image'",
                    (*base, "build"),
                )
            else:
                self.error("MSX-E102", f"service {key!r} has no 'image'", base)
            return None
        out["image"] = image.strip()
        if "build" in body:
            self.warn(
                "MSX-L101", f"service {key!r}: 'build' was ignored; the image {image!r} is used", (*base, "build")
            )
        self._interpolation(key, body, base)
        self._commands(key, body, base, out)
        published = self._ports(key, body, base, out)
        self._environment(key, body, base, out)
        self._resources(key, body, base, out)
        if published:
            repository = out["image"].split("@")[0].rsplit("/", 1)[-1].split(":")[0]
            if repository in DATASTORE_IMAGES:
                self.warn(
                    "MSX-L102",
                    f"service {key!r} publishes ports on the host; in an environment it is reachable as "
                    f"{out['name']}:<port> and is not exposed through the ingress (HTTP only)",
                    (*base, "ports"),
                )
            else:
                out["expose"] = True
        self._dependencies(key, body, base, out)
        self._replicas(key, body, base, out)
        self._volumes(key, body, base, out, declared_volumes, usage)
        self._healthcheck(key, body, base, out)
        for option in body:
            if option in _HANDLED or option in _SILENT or str(option).startswith("x-"):
                continue
            reason = _UNSUPPORTED.get(option, "it has no equivalent in a blueprint")
            self.warn("MSX-L101", f"service {key!r}: '{option}' was ignored: {reason}", (*base, option))
        restart = body.get("restart")
        if isinstance(restart, str) and restart not in {"always", "unless-stopped"}:
            self.warn(
                "MSX-L101",
                f"service {key!r}: restart policy {restart!r} was ignored; services are always restarted",
                (*base, "restart"),
            )
        return out

    def _interpolation(self, key: str, body: dict[str, Any], base: Path) -> None:
        for option in ("image", "environment", "command", "entrypoint", "ports"):
            if "${" in str(body.get(option, "")):
                self.warn(
                    "MSX-L104",
                    f"service {key!r}: '{option}' uses ${{VARIABLE}} interpolation, which the import does "
                    "not perform; replace the variables with values",
                    (*base, option),
                )

    def _words(self, value: Any, path: Path, what: str) -> list[str] | None:
        if isinstance(value, str):
            try:
                return shlex.split(value)
            except ValueError:
                self.error("MSX-E102", f"{what} {value!r} has unbalanced quotes", path)
                return None
        if isinstance(value, list) and all(not isinstance(v, dict | list) and v is not None for v in value):
            return [scalar_text(v) for v in value]
        if value is not None:
            self.error("MSX-E102", f"{what} must be a string or a list of strings", path)
        return None

    def _commands(self, key: str, body: dict[str, Any], base: Path, out: dict[str, Any]) -> None:
        # Compose's entrypoint replaces the image ENTRYPOINT (Kubernetes "command") and its
        # command replaces CMD (Kubernetes "args").
        command = self._words(body.get("entrypoint"), (*base, "entrypoint"), f"service {key!r}: entrypoint")
        if command:
            out["command"] = command
        args = self._words(body.get("command"), (*base, "command"), f"service {key!r}: command")
        if args:
            out["args"] = args

    def _ports(self, key: str, body: dict[str, Any], base: Path, out: dict[str, Any]) -> bool:
        """Fill ``out["ports"]``; True when some port is published to the host."""
        ports: list[dict[str, Any]] = []
        seen: set[tuple[int, str]] = set()
        published = False
        entries = body.get("ports") or []
        if not isinstance(entries, list):
            self.error("MSX-E102", f"service {key!r}: 'ports' must be a list", (*base, "ports"))
            entries = []
        for j, entry in enumerate(entries):
            path = (*base, "ports", j)
            for container, host, protocol, host_ip in self._port_entry(key, entry, path):
                if (container, protocol) in seen:
                    self.warn(
                        "MSX-L102",
                        f"service {key!r}: container port {container}/{protocol.lower()} is published twice; "
                        "only the first is kept",
                        path,
                        at_key=False,
                    )
                    continue
                seen.add((container, protocol))
                port: dict[str, Any] = {"containerPort": container}
                if host is not None:
                    published = True
                    if host != container:
                        port["port"] = host
                        self.warn(
                            "MSX-L102",
                            f"service {key!r}: host port {host} does not apply on Kubernetes; the Service "
                            f"listens on {host} in front of container port {container}",
                            path,
                            at_key=False,
                        )
                if host_ip:
                    self.warn(
                        "MSX-L102",
                        f"service {key!r}: binding to host address {host_ip} does not apply on Kubernetes",
                        path,
                        at_key=False,
                    )
                if protocol != "TCP":
                    port["protocol"] = protocol
                ports.append(port)
        expose = body.get("expose") or []
        for j, entry in enumerate(expose if isinstance(expose, list) else []):
            for container, _host, protocol, _ip in self._port_entry(key, entry, (*base, "expose", j)):
                if (container, protocol) not in seen:
                    seen.add((container, protocol))
                    ports.append({"containerPort": container, **({"protocol": protocol} if protocol != "TCP" else {})})
        if ports:
            out["ports"] = ports
        return published

    def _port_entry(self, key: str, entry: Any, path: Path) -> list[tuple[int, int | None, str, str | None]]:
        """``(container, host or None, protocol, host address or None)`` for each port of an entry."""
        if isinstance(entry, dict):
            target, published = entry.get("target"), entry.get("published")
            protocol = str(entry.get("protocol") or "tcp").upper()
            host_ip = entry.get("host_ip")
            containers = self._port_range(target, key, path)
            hosts = self._port_range(published, key, path) if published not in (None, "") else None
        elif isinstance(entry, int | str) and not isinstance(entry, bool):
            text = scalar_text(entry).strip()
            text, _, protocol_text = text.partition("/")
            protocol = (protocol_text or "tcp").upper()
            pieces = text.rsplit(":", 2)
            host_ip = pieces[0] if len(pieces) == 3 else None
            host_text = pieces[-2] if len(pieces) >= 2 else ""
            containers = self._port_range(pieces[-1], key, path)
            hosts = self._port_range(host_text, key, path) if host_text else None
        else:
            self.error("MSX-E102", f"service {key!r}: port entry must be a string, number or mapping", path)
            return []
        if protocol not in {"TCP", "UDP", "SCTP"}:
            self.error("MSX-E102", f"service {key!r}: protocol {protocol.lower()!r} is not supported", path)
            return []
        if containers is None:
            return []
        if hosts is not None and len(hosts) not in (1, len(containers)):
            self.error("MSX-E102", f"service {key!r}: host and container port ranges differ in length", path)
            return []
        result = []
        for i, container in enumerate(containers):
            host = None if hosts is None else (hosts[i] if len(hosts) == len(containers) else hosts[0] + i)
            result.append((container, host, protocol, str(host_ip) if host_ip else None))
        return result

    def _port_range(self, value: Any, key: str, path: Path) -> list[int] | None:
        text = scalar_text(value).strip() if value is not None else ""
        match = re.fullmatch(r"([0-9]+)(?:-([0-9]+))?", text)
        if match is None:
            self.error("MSX-E102", f"service {key!r}: {text!r} is not a port number", path)
            return None
        first, last = int(match[1]), int(match[2] or match[1])
        if not (1 <= first <= last <= 65535):
            self.error("MSX-E102", f"service {key!r}: port {text!r} is outside 1-65535", path)
            return None
        if last - first + 1 > MAX_PORT_RANGE:
            self.error("MSX-E102", f"service {key!r}: port range {text!r} is too large to import", path)
            return None
        return list(range(first, last + 1))

    def _environment(self, key: str, body: dict[str, Any], base: Path, out: dict[str, Any]) -> None:
        raw = body.get("environment")
        path = (*base, "environment")
        items: list[tuple[str, Any, Path]] = []
        if isinstance(raw, dict):
            items = [(str(k), v, (*path, k)) for k, v in raw.items()]
        elif isinstance(raw, list):
            for j, entry in enumerate(raw):
                text = scalar_text(entry)
                name, sep, value = text.partition("=")
                items.append((name, value if sep else None, (*path, j)))
        elif raw is not None:
            self.error("MSX-E102", f"service {key!r}: 'environment' must be a mapping or a list", path)
            return
        env: dict[str, str] = {}
        for name, value, where in items:
            if value is None:
                self.warn(
                    "MSX-L101",
                    f"service {key!r}: {name} takes its value from the host, which does not apply; it was left out",
                    where,
                )
                continue
            if isinstance(value, dict | list):
                self.error("MSX-E102", f"service {key!r}: environment variable {name} must be a single value", where)
                continue
            env[name] = scalar_text(value)
        if env:
            out["env"] = env

    def _resources(self, key: str, body: dict[str, Any], base: Path, out: dict[str, Any]) -> None:
        deploy = body.get("deploy") if isinstance(body.get("deploy"), dict) else {}
        resources = deploy.get("resources") if isinstance(deploy.get("resources"), dict) else {}
        requests: dict[str, str] = {}
        limits: dict[str, str] = {}
        sources = [
            (limits, resources.get("limits"), (*base, "deploy", "resources", "limits")),
            (requests, resources.get("reservations"), (*base, "deploy", "resources", "reservations")),
            (limits, {"cpus": body.get("cpus"), "memory": body.get("mem_limit")}, base),
            (requests, {"memory": body.get("mem_reservation")}, base),
        ]
        for target, amounts, path in sources:
            if not isinstance(amounts, dict):
                continue
            for option, value in amounts.items():
                if value is None:
                    continue
                try:
                    if option == "cpus":
                        target.setdefault("cpu", canonical_cpu(scalar_text(value)))
                    elif option == "memory":
                        target.setdefault("memory", canonical_bytes(compose_bytes(value)))
                    else:
                        self.warn("MSX-L101", f"service {key!r}: resource '{option}' was ignored", (*path, option))
                except ValueError as exc:
                    self.warn("MSX-L104", f"service {key!r}: {option} was ignored: {exc}", (*path, option))
        for option in deploy:
            if option not in {"replicas", "resources"}:
                self.warn("MSX-L101", f"service {key!r}: deploy.{option} was ignored", (*base, "deploy", option))
        if requests or limits:
            out["resources"] = {k: v for k, v in (("requests", requests), ("limits", limits)) if v}

    def _dependencies(self, key: str, body: dict[str, Any], base: Path, out: dict[str, Any]) -> None:
        names: list[str] = []
        depends = body.get("depends_on")
        if isinstance(depends, dict):
            names.extend(str(k) for k in depends)
        elif isinstance(depends, list):
            names.extend(scalar_text(v) for v in depends if not isinstance(v, dict | list))
        links = body.get("links")
        if isinstance(links, list):
            for j, link in enumerate(links):
                target, _, alias = scalar_text(link).partition(":")
                names.append(target)
                if alias and alias != target:
                    self.warn(
                        "MSX-L101",
                        f"service {key!r}: link alias {alias!r} is not created; use the host name {target!r}",
                        (*base, "links", j),
                        at_key=False,
                    )
        resolved = []
        for name in names:
            renamed = self.renamed.get(name, dns_name(name))
            if renamed not in resolved:
                resolved.append(renamed)
        if resolved:
            out["dependsOn"] = resolved

    def _replicas(self, key: str, body: dict[str, Any], base: Path, out: dict[str, Any]) -> None:
        deploy = body.get("deploy") if isinstance(body.get("deploy"), dict) else {}
        for value, path in (
            (deploy.get("replicas"), (*base, "deploy", "replicas")),
            (body.get("scale"), (*base, "scale")),
        ):
            if value is None:
                continue
            text = scalar_text(value)
            if text.isdigit():
                out["replicas"] = int(text)
                return
            self.warn("MSX-L104", f"service {key!r}: replicas {text!r} is not a whole number and was ignored", path)

    def _volumes(
        self,
        key: str,
        body: dict[str, Any],
        base: Path,
        out: dict[str, Any],
        declared: dict[str, Any],
        usage: dict[str, list[str]],
    ) -> None:
        volumes: list[dict[str, Any]] = []
        names: set[str] = set()
        entries = body.get("volumes") or []
        tmpfs = body.get("tmpfs")
        tmpfs_list = [tmpfs] if isinstance(tmpfs, str) else tmpfs if isinstance(tmpfs, list) else []
        mounts: list[tuple[str, str, str, bool, Path]] = []
        for j, entry in enumerate(entries if isinstance(entries, list) else []):
            path = (*base, "volumes", j)
            if isinstance(entry, dict):
                kind = str(entry.get("type") or "volume")
                source, target = str(entry.get("source") or ""), str(entry.get("target") or "")
                read_only = bool(entry.get("read_only"))
            else:
                pieces = scalar_text(entry).split(":")
                if len(pieces) == 1:
                    source, target, mode = "", pieces[0], ""
                else:
                    source, target, mode = pieces[0], pieces[1], pieces[2] if len(pieces) > 2 else ""
                read_only = "ro" in mode.split(",")
                bind = source.startswith(("/", ".", "~")) or "/" in source
                kind = "bind" if bind else "volume"
            mounts.append((kind, source, target, read_only, path))
        for j, entry in enumerate(tmpfs_list):
            mounts.append(("tmpfs", "", scalar_text(entry).split(":")[0], False, (*base, "tmpfs", j)))
        for kind, source, target, read_only, path in mounts:
            if not target.startswith("/"):
                self.error("MSX-E102", f"service {key!r}: volume target {target!r} is not an absolute path", path)
                continue
            if read_only:
                self.warn(
                    "MSX-L101",
                    f"service {key!r}: {target} is mounted read-write (read-only is not supported)",
                    path,
                    at_key=False,
                )
            if kind == "volume" and source:
                name = self._unique(dns_name(source, "data"), names)
                usage.setdefault(source, []).append(key)
                if isinstance(declared.get(source), dict) and declared[source].get("external"):
                    self.warn(
                        "MSX-L101", f"external volume {source!r} starts empty in the environment", path, at_key=False
                    )
                volumes.append({"name": name, "mountPath": target, "type": "pvc", "size": DEFAULT_VOLUME_SIZE})
                continue
            name = self._unique(dns_name(target.strip("/").replace("/", "-"), "scratch"), names)
            if kind == "bind":
                self.warn(
                    "MSX-L103",
                    f"service {key!r}: bind mount {source} cannot be mounted from the host; {target} is an "
                    "empty directory instead (bake the files into the image or use init)",
                    path,
                    at_key=False,
                )
            elif kind == "tmpfs":
                self.warn(
                    "MSX-L103", f"service {key!r}: tmpfs {target} became an empty directory on disk", path, at_key=False
                )
            elif kind != "volume":
                self.warn(
                    "MSX-L103", f"service {key!r}: {kind} mount {target} became an empty directory", path, at_key=False
                )
            volumes.append({"name": name, "mountPath": target, "type": "emptyDir"})
        if volumes:
            out["volumes"] = volumes

    @staticmethod
    def _unique(name: str, taken: set[str]) -> str:
        candidate, n = name, 2
        while candidate in taken:
            suffix = f"-{n}"
            candidate = name[: 63 - len(suffix)] + suffix
            n += 1
        taken.add(candidate)
        return candidate

    def _healthcheck(self, key: str, body: dict[str, Any], base: Path, out: dict[str, Any]) -> None:
        check = body.get("healthcheck")
        path = (*base, "healthcheck")
        if not isinstance(check, dict) or check.get("disable") is True:
            return
        test = check.get("test")
        command: list[str] | None = None
        if isinstance(test, str):
            command = ["sh", "-c", test]
        elif isinstance(test, list) and test:
            head, rest = scalar_text(test[0]), [scalar_text(t) for t in test[1:]]
            if head == "NONE":
                return
            if head == "CMD" and rest:
                command = rest
            elif head == "CMD-SHELL" and rest:
                command = ["sh", "-c", " ".join(rest)]
        if command is None:
            self.warn("MSX-L104", f"service {key!r}: healthcheck test could not be mapped to a probe", (*path, "test"))
            return
        probe: dict[str, Any] = {"exec": {"command": command}}
        timings = {
            "interval": "periodSeconds",
            "timeout": "timeoutSeconds",
            "start_period": "initialDelaySeconds",
        }
        for option, target in timings.items():
            if check.get(option) is not None:
                try:
                    probe[target] = compose_seconds(check[option])
                except ValueError as exc:
                    self.warn("MSX-L104", f"service {key!r}: healthcheck {option} ignored: {exc}", (*path, option))
        retries = check.get("retries")
        if retries is not None:
            text = scalar_text(retries)
            if text.isdigit() and int(text) >= 1:
                probe["failureThreshold"] = int(text)
        out["probes"] = {"readiness": probe}


_HANDLED = frozenset(
    {
        "image", "build", "ports", "expose", "environment", "command", "entrypoint", "depends_on",
        "links", "volumes", "tmpfs", "healthcheck", "deploy", "scale", "cpus", "mem_limit",
        "mem_reservation", "restart",
    }
)  # fmt: skip
