"""The Blueprint specification as pydantic models (the documented MicroStax format).

These models check the *shape* of a blueprint: field names, types, enumerations and the syntax
of names, images, ports, quantities, header names and durations. Rules that relate several
fields or services (image required unless mocked, dependencies exist and form no cycle, routing
mode rules, duplicate ports, limits ≥ requests …) live in :mod:`blueprints.rules`, so each can
report its own precise path and all of them are reported at once.

Accepted spellings, all normalized by :mod:`blueprints.normalize`:

* ``services`` is a list of service objects, or a map keyed by service name (the key is the name);
* a port is ``{containerPort, port?, name?, protocol?}``, an int (``8080``) or a Compose string:
  ``"8080"`` (one port), ``"8080:80"`` (Service port 8080 in front of container port 80),
  ``"53:53/udp"``;
* ``command``, ``args`` and ``exec.command`` are a list of strings or one string, which is split
  the way a shell would split it (no shell is run; use ``["sh", "-c", "…"]`` for pipes);
* ``env`` is a map of names to strings; numbers and booleans are accepted and kept as written;
* ``resources`` is ``{cpu, memory}`` (used as both requests and limits) or ``{requests, limits}``;
* ``mock.mode`` is ``replace``, ``sidecar``, ``mirror`` or ``ai-stateful`` (all documented).

Custom errors carry their ``MSX-E…`` code as the pydantic error type; see
:mod:`blueprints.problems` for the table.
"""

from __future__ import annotations

import re
import shlex
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from blueprints.parsing import scalar_text
from blueprints.quantities import cpu_millicores, memory_bytes, parse_duration, quantity_text

DNS_LABEL = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?\Z")
_PORT_NAME = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,13}[a-z0-9])?\Z")
_HEADER_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")
_SECRET_KEY = re.compile(r"[-._a-zA-Z0-9]{1,253}\Z")
_ENV_NAME = re.compile(r"[\x21-\x3c\x3e-\x7e]+\Z")  # printable ASCII without spaces or '='
_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,252}\Z")
_PORT_STRING = re.compile(r"(?:(?P<service>[0-9]+):)?(?P<container>[0-9]+)(?:/(?P<protocol>[A-Za-z]+))?\Z")

# The reference grammar of github.com/distribution/reference, without IPv6 registries.
_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
IMAGE_REFERENCE = re.compile(rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*(?::{_TAG})?(?:@{_DIGEST})?\Z")

MOCK_MODES_WITHOUT_IMAGE = frozenset({"replace", "ai-stateful"})
AUTO_GENERATED = "auto-generated"
DEFAULT_HEADER_NAME = "x-msx-env"


def _error(code: str, message: str) -> PydanticCustomError:
    # Braces in user input must not be read as format fields by pydantic.
    return PydanticCustomError(code, message.replace("{", "{{").replace("}", "}}"))


# --- scalar checks ------------------------------------------------------------------------------
def _text(value: Any) -> Any:
    """Accept numbers and booleans where text is expected, keeping their written spelling."""
    if isinstance(value, bool | int | float) and not isinstance(value, str):
        return scalar_text(value)
    return value


def _dns_label(value: str) -> str:
    if not DNS_LABEL.match(value):
        raise _error(
            "MSX-E012",
            f"{value!r} is not a valid name: use at most 63 lowercase letters, digits and '-', "
            "starting and ending with a letter or digit",
        )
    return value


def _service_name(value: str) -> str:
    """A service name becomes a Kubernetes Service name, which must also start with a letter (DNS-1035)."""
    _dns_label(value)
    if not value[0].isalpha():
        raise _error(
            "MSX-E012",
            f"service name {value!r} must start with a letter: it becomes a Kubernetes Service name",
        )
    return value


def _image_reference(value: str) -> str:
    if not IMAGE_REFERENCE.match(value):
        hint = " (repository names must be lowercase)" if value != value.lower() else ""
        raise _error(
            "MSX-E014",
            f"{value!r} is not a valid image reference{hint}; write it like "
            "registry.example.com/team/app:1.2.3 or postgres:16-alpine",
        )
    return value


def _port_number(value: int) -> int:
    if not 1 <= value <= 65535:
        raise _error("MSX-E015", f"port {value} is outside the range 1-65535")
    return value


def _port_name(value: str) -> str:
    if not _PORT_NAME.match(value) or "--" in value or not re.search("[a-z]", value):
        raise _error(
            "MSX-E012",
            f"port name {value!r} is not valid: use at most 15 lowercase letters, digits and '-', "
            "with at least one letter",
        )
    return value


def _protocol(value: Any) -> Any:
    if isinstance(value, str):
        upper = value.upper()
        if upper not in {"TCP", "UDP", "SCTP"}:
            raise _error("MSX-E008", f"protocol {value!r} must be TCP, UDP or SCTP")
        return upper
    return value


def _header_name(value: str) -> str:
    if not _HEADER_TOKEN.match(value):
        raise _error(
            "MSX-E021",
            f"{value!r} is not a valid HTTP header name (letters, digits and -_.!#$%&'*+^`|~ only)",
        )
    return value


def _env_name(value: str) -> str:
    if not _ENV_NAME.match(value):
        raise _error(
            "MSX-E012",
            f"environment variable name {value!r} must be printable ASCII without spaces or '='",
        )
    return value


def _secret_key(value: str) -> str:
    if not _SECRET_KEY.match(value):
        raise _error("MSX-E012", f"secret name {value!r} may only use letters, digits, '-', '_' and '.'")
    return value


def _identifier(value: str) -> str:
    if not _IDENTIFIER.match(value):
        raise _error("MSX-E008", f"{value!r} is not a valid identifier (no spaces; letters, digits, _.:/-)")
    return value


def _cpu(value: Any) -> str:
    try:
        text = quantity_text(value)
        cpu_millicores(text)
    except ValueError as exc:
        raise _error("MSX-E017", f"invalid CPU quantity: {exc}") from None
    return text


def _memory(value: Any) -> str:
    try:
        text = quantity_text(value)
        memory_bytes(text)
    except ValueError as exc:
        raise _error("MSX-E017", f"invalid memory quantity: {exc}") from None
    return text


def _size(value: Any) -> str:
    try:
        text = quantity_text(value)
        size = memory_bytes(text)
    except ValueError as exc:
        raise _error("MSX-E017", f"invalid size: {exc}") from None
    if size <= 0:
        raise _error("MSX-E017", f"size {text!r} must be larger than zero")
    return text


def _duration(value: Any) -> str:
    try:
        parse_duration(value)
    except ValueError as exc:
        raise _error("MSX-E025", str(exc)) from None
    return value


def _words(value: Any) -> Any:
    """A list of strings, or one string split like a shell would split it."""
    if isinstance(value, str):
        try:
            return shlex.split(value)
        except ValueError as exc:
            raise _error("MSX-E008", f"cannot split {value!r} into words: {exc}") from None
    return value


def _mount_path(value: str) -> str:
    if not value.startswith("/"):
        raise _error("MSX-E008", f"mount path {value!r} must be an absolute path starting with '/'")
    return value


Text = Annotated[str, BeforeValidator(_text)]
Words = Annotated[list[Text], BeforeValidator(_words)]
DnsLabel = Annotated[str, AfterValidator(_dns_label)]
ServiceName = Annotated[str, AfterValidator(_service_name)]
PortNumber = Annotated[int, AfterValidator(_port_number)]
Cpu = Annotated[str, BeforeValidator(_cpu)]
Memory = Annotated[str, BeforeValidator(_memory)]
Size = Annotated[str, BeforeValidator(_size)]
Duration = Annotated[str, BeforeValidator(_duration)]
EnvName = Annotated[str, AfterValidator(_env_name)]
EnvValue = Annotated[str, BeforeValidator(_text)]
Identifier = Annotated[str, AfterValidator(_identifier)]


class SpecModel(BaseModel):
    """Base of every blueprint model: camelCase field names, unknown fields refused, immutable."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=False,
        serialize_by_alias=True,
    )


# --- service parts ------------------------------------------------------------------------------
class PortSpec(SpecModel):
    """A container port, and the Service port in front of it (``port``, default: the same)."""

    container_port: PortNumber = Field(description="Port the container listens on (1-65535).")
    port: PortNumber | None = Field(None, description="Service port in front of it; defaults to containerPort.")
    name: Annotated[str, AfterValidator(_port_name)] | None = Field(
        None, description="IANA service name (at most 15 characters); defaults to '<protocol>-<port>'."
    )
    protocol: Annotated[Literal["TCP", "UDP", "SCTP"], BeforeValidator(_protocol)] = Field(
        "TCP", description="TCP (default), UDP or SCTP."
    )

    @model_validator(mode="before")
    @classmethod
    def _from_compose_style(cls, value: Any) -> Any:
        """``8080``, ``"8080"``, ``"8080:80"`` and ``"53/udp"`` become port objects."""
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            return {"containerPort": value}
        if not isinstance(value, str):
            return value
        text = value.strip()
        match = _PORT_STRING.match(text)
        if match is None:
            if "-" in text:
                reason = "port ranges are not supported; list each port"
            elif text.count(":") >= 2:
                reason = "host addresses do not apply on Kubernetes; write 'SERVICE_PORT:CONTAINER_PORT'"
            else:
                reason = "write it as 'CONTAINER_PORT', 'SERVICE_PORT:CONTAINER_PORT' or '8080/udp'"
            raise _error("MSX-E015", f"port {value!r} is not valid: {reason}")
        port: dict[str, Any] = {"containerPort": int(match["container"])}
        if match["service"] is not None:
            port["port"] = int(match["service"])
        if match["protocol"] is not None:
            port["protocol"] = match["protocol"]
        return port


class ResourceAmounts(SpecModel):
    """CPU and memory amounts for requests or limits."""

    cpu: Cpu | None = Field(None, description="CPU, e.g. 250m or 0.5.")
    memory: Memory | None = Field(None, description="Memory, e.g. 512Mi or 1Gi.")


class ResourceSpec(SpecModel):
    """``{cpu, memory}`` (both requests and limits) or ``{requests, limits}``."""

    cpu: Cpu | None = Field(None, description="Shorthand: CPU used as both request and limit.")
    memory: Memory | None = Field(None, description="Shorthand: memory used as both request and limit.")
    requests: ResourceAmounts | None = None
    limits: ResourceAmounts | None = None


class SecretSpec(SpecModel):
    """A secret injected as an environment variable; ``value: auto-generated`` makes a random one."""

    name: Annotated[str, AfterValidator(_secret_key)]
    env_key: EnvName = Field(description="Environment variable the secret is injected as.")
    value: Text = Field(AUTO_GENERATED, description="Literal value, or 'auto-generated' (default).")


class VolumeSpec(SpecModel):
    """A volume mounted into the service: a persistent claim (``pvc``) or an ``emptyDir``."""

    name: DnsLabel
    mount_path: Annotated[str, AfterValidator(_mount_path)]
    type: Literal["pvc", "emptyDir"] = "pvc"
    size: Size | None = Field(None, description="Claim size (pvc, default 1Gi) or size limit (emptyDir).")


class InitSpec(SpecModel):
    """A seed job run once when the service is first provisioned: a script file or inline text."""

    script: Text | None = Field(None, description="Path of the seed script.")
    inline: Text | None = Field(None, description="The seed script itself.")
    type: Literal["sql", "shell"] = "sql"


def _probe_port(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return _port_number(int(value))
    if isinstance(value, str):
        if value.isdigit():
            return _port_number(int(value))
        return _port_name(value)
    raise _error("MSX-E007", "probe port must be a port number or the name of a declared port")


ProbePort = Annotated[int | str, BeforeValidator(_probe_port)]


class HttpGetAction(SpecModel):
    path: Text = "/"
    port: ProbePort = Field(description="Port number or the name of a declared port.")
    scheme: Literal["HTTP", "HTTPS"] = "HTTP"


class TcpSocketAction(SpecModel):
    port: ProbePort = Field(description="Port number or the name of a declared port.")


class ExecAction(SpecModel):
    command: Words


class ProbeSpec(SpecModel):
    """One health check: exactly one of ``httpGet``, ``tcpSocket`` or ``exec``, plus timings."""

    http_get: HttpGetAction | None = None
    tcp_socket: TcpSocketAction | None = None
    exec_: ExecAction | None = Field(None, alias="exec")
    initial_delay_seconds: int | None = Field(None, ge=0)
    period_seconds: int | None = Field(None, ge=1)
    timeout_seconds: int | None = Field(None, ge=1)
    failure_threshold: int | None = Field(None, ge=1)


class ProbesSpec(SpecModel):
    readiness: ProbeSpec | None = None
    liveness: ProbeSpec | None = None


class MockSpec(SpecModel):
    """Run a mock instead of (``replace``, ``ai-stateful``) or beside (``sidecar``, ``mirror``) the service."""

    enabled: bool = True
    mode: Literal["replace", "sidecar", "mirror", "ai-stateful"] = "replace"
    openapi: Text | None = Field(None, description="Path of the OpenAPI document the mock serves.")


class ServiceSpec(SpecModel):
    """One service of the stack."""

    name: ServiceName = Field(description="DNS-safe service name starting with a letter; also its host name.")
    image: Annotated[str, AfterValidator(_image_reference)] | None = Field(
        None, description="OCI image reference; required unless the service is an enabled replacing mock."
    )
    ports: list[PortSpec] = Field(default_factory=list)
    env: dict[EnvName, EnvValue] = Field(default_factory=dict)
    resources: ResourceSpec | None = None
    expose: bool = Field(False, description="Create an ingress route for the first port.")
    depends_on: list[DnsLabel] = Field(default_factory=list, description="Services that start first.")
    replicas: int = Field(1, ge=0)
    command: Words | None = Field(None, description="Replaces the image's entrypoint.")
    args: Words | None = Field(None, description="Replaces the image's default arguments.")
    secrets: list[SecretSpec] = Field(default_factory=list)
    volumes: list[VolumeSpec] = Field(default_factory=list)
    init: InitSpec | None = None
    probes: ProbesSpec | None = None
    mock: MockSpec | None = None
    propagate_header: bool | None = Field(
        None, description="Forward the routing header on outgoing calls; defaults to routing.propagateHeader."
    )
    removed: bool = Field(False, description="Overlays only: remove this inherited service.")


# --- top level ----------------------------------------------------------------------------------
class RoutingSpec(SpecModel):
    """How the environment relates to others: its own stack, a shared baseline, or an overlay."""

    mode: Literal["isolated", "baseline", "overlay"] | None = Field(
        None, description="isolated (default), baseline, or overlay."
    )
    baseline_id: Identifier | None = Field(None, description="Provider environment of an overlay, e.g. env_base_123.")
    overlay_id: DnsLabel | None = Field(None, description="Routing key of an overlay; defaults to the name.")
    header_name: Annotated[str, AfterValidator(_header_name)] = Field(
        DEFAULT_HEADER_NAME, description="Request header carrying the routing key."
    )
    propagate_header: bool = Field(False, description="Keep service-to-service calls in the overlay.")


class PlanServiceOverride(SpecModel):
    replicas: int | None = Field(None, ge=0)
    resources: ResourceSpec | None = None


class PlanSpec(SpecModel):
    """A named profile (e.g. ``production``) overriding replicas and resources per service."""

    description: Text | None = None
    services: dict[str, PlanServiceOverride] = Field(default_factory=dict)


class SnapshotTables(SpecModel):
    include: list[Text] = Field(default_factory=list)
    exclude: list[Text] = Field(default_factory=list)


class SanitizeRule(SpecModel):
    """A per-column sanitization rule; extra keys are parameters of the strategy (e.g. ``kind``)."""

    model_config = ConfigDict(extra="allow")

    table: Text
    column: Text
    strategy: Literal["mask", "hash", "fake", "redact", "nullify", "keep"]

    @model_validator(mode="after")
    def _scalar_parameters(self) -> SanitizeRule:
        for key, value in (self.model_extra or {}).items():
            if isinstance(value, dict | list) or (isinstance(value, float) and value != value):
                raise _error("MSX-E007", f"rule parameter {key!r} must be a single value")
        return self


class SnapshotSpec(SpecModel):
    """Restore a (sanitized) snapshot into a service's database when the environment is provisioned."""

    service: DnsLabel = Field(description="Service whose database receives the data.")
    id: Identifier | None = Field(None, description="Snapshot to restore, e.g. snap_8f2k1.")
    from_environment: Identifier | None = Field(
        None, description="Restore the latest sanitized snapshot of this environment's service instead."
    )
    engine: Literal["postgres"] = "postgres"
    source_secret: Text | None = Field(None, description="Secret holding the source database credentials.")
    tables: SnapshotTables | None = None
    policy: Text | None = Field(None, description="Sanitization policy to apply.")
    rules: list[SanitizeRule] = Field(default_factory=list)
    storage: Text | None = Field(None, description="Storage backend of the snapshot artifact.")


def services_as_list(value: Any) -> Any:
    """The map style (``services: {api: {...}}``) as the list style, the key becoming the name."""
    if not isinstance(value, dict):
        return value
    items = []
    for key, body in value.items():
        if body is None:
            body = {}
        if isinstance(body, dict) and "name" not in body:
            body = {"name": key, **body}
        items.append(body)
    return items


class BlueprintSpec(SpecModel):
    """A MicroStax Blueprint: one environment's services, routing and policies."""

    name: DnsLabel = Field(description="Environment name (DNS label).")
    description: Text | None = None
    services: Annotated[list[ServiceSpec], BeforeValidator(services_as_list)] = Field(
        min_length=1, description="A list of services, or a map keyed by service name."
    )
    plans: dict[Annotated[str, AfterValidator(_dns_label)], PlanSpec] = Field(default_factory=dict)
    routing: RoutingSpec | None = None
    auto_shutdown_enabled: bool = Field(True, description="Stop the environment when idle.")
    auto_shutdown_delay_minutes: int = Field(30, ge=1, description="Idle minutes before it is stopped.")
    ttl: Duration | None = Field(None, description="Lifetime, e.g. 72h, 7d or 1h30m.")
    snapshot: SnapshotSpec | None = None
