"""The JSON Schema (draft 2020-12) of a blueprint, for editors and API clients.

Generated from the pydantic models of :mod:`blueprints.spec`, then widened where the models accept
more than one spelling (services as a list or a map, ports as objects, numbers or Compose strings,
commands as strings or lists, quantities as strings or numbers) and tightened with the patterns
the validators enforce (DNS names, image references, quantities, durations, header names).

Cross-field rules (image required unless mocked, dependencies exist, no cycles …) are not
expressible here; :func:`blueprints.validation.validate_blueprint` remains the authority.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from blueprints.spec import BlueprintSpec

SCHEMA_ID = "https://microstax.io/schemas/blueprint/v1.json"
DRAFT = "https://json-schema.org/draft/2020-12/schema"

DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
PORT_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,13}[a-z0-9])?$"
HEADER_PATTERN = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"
DURATION_PATTERN = r"^(?=.)([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?$"
QUANTITY_PATTERN = r"^\+?([0-9]+(\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?[0-9]+|[numkMGTPE])?$"
PORT_STRING_PATTERN = r"^([0-9]{1,5}:)?[0-9]{1,5}(/([tT][cC][pP]|[uU][dD][pP]|[sS][cC][tT][pP]))?$"
ENV_NAME_PATTERN = r"^[!-<>-~]+$"
IMAGE_PATTERN = (
    r"^(([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(\.([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*"
    r"(:[0-9]+)?/)?[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*(/[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*)*"
    r"(:[\w][\w.-]{0,127})?(@[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$"
)

_PORT_NUMBER = {"type": "integer", "minimum": 1, "maximum": 65535}
_SCALAR_TEXT = {"type": ["string", "number", "boolean"]}
_WORDS = {
    "anyOf": [
        {"type": "string", "description": "Split into words the way a shell would (no shell is run)."},
        {"type": "array", "items": _SCALAR_TEXT},
    ]
}
_QUANTITY = {"anyOf": [{"type": "string", "pattern": QUANTITY_PATTERN}, {"type": "number", "minimum": 0}]}


def blueprint_json_schema() -> dict[str, Any]:
    """The blueprint's JSON Schema (a fresh copy each call, safe to modify)."""
    return copy.deepcopy(_schema())


@cache
def _schema() -> dict[str, Any]:
    schema = BlueprintSpec.model_json_schema(by_alias=True, mode="validation")
    defs = schema["$defs"]
    _strip_property_titles(schema)
    for definition in defs.values():
        _strip_property_titles(definition)

    def prop(model: str, name: str) -> dict[str, Any]:
        return defs[model]["properties"][name]

    def nullable(model: str, name: str, replacement: dict[str, Any]) -> None:
        """Replace a property's type, keeping its description, default and null when it had one."""
        old = defs[model]["properties"][name] if model else schema["properties"][name]
        keep = {k: old[k] for k in ("description", "default") if k in old}
        was_nullable = any(option.get("type") == "null" for option in old.get("anyOf", []))
        new = {"anyOf": [replacement, {"type": "null"}]} if was_nullable else dict(replacement)
        new.update(keep)
        if model:
            defs[model]["properties"][name] = new
        else:
            schema["properties"][name] = new

    # Names and references.
    for model, name in (("ServiceSpec", "name"), ("VolumeSpec", "name"), ("SnapshotSpec", "service")):
        prop(model, name)["pattern"] = DNS_LABEL_PATTERN
    schema["properties"]["name"]["pattern"] = DNS_LABEL_PATTERN
    nullable("RoutingSpec", "overlayId", {"type": "string", "pattern": DNS_LABEL_PATTERN})
    prop("ServiceSpec", "dependsOn")["items"] = {"type": "string", "pattern": DNS_LABEL_PATTERN}
    prop("RoutingSpec", "headerName")["pattern"] = HEADER_PATTERN
    nullable("ServiceSpec", "image", {"type": "string", "pattern": IMAGE_PATTERN})
    nullable("", "ttl", {"type": "string", "pattern": DURATION_PATTERN})
    schema["properties"]["plans"]["propertyNames"] = {"pattern": DNS_LABEL_PATTERN}

    # Ports: objects, numbers or Compose strings.
    prop("PortSpec", "containerPort").update(_PORT_NUMBER)
    nullable("PortSpec", "port", _PORT_NUMBER)
    nullable("PortSpec", "name", {"type": "string", "pattern": PORT_NAME_PATTERN})
    protocol = prop("PortSpec", "protocol")
    protocol["enum"] = ["TCP", "UDP", "SCTP", "tcp", "udp", "sctp"]
    prop("ServiceSpec", "ports")["items"] = {
        "anyOf": [
            {"$ref": "#/$defs/PortSpec"},
            _PORT_NUMBER,
            {
                "type": "string",
                "pattern": PORT_STRING_PATTERN,
                "description": "'8080' (one port) or 'SERVICE_PORT:CONTAINER_PORT', optionally '/udp'.",
            },
        ]
    }
    for model in ("HttpGetAction", "TcpSocketAction"):
        port = prop(model, "port")
        defs[model]["properties"]["port"] = {
            "description": port.get("description", ""),
            "anyOf": [_PORT_NUMBER, {"type": "string", "pattern": PORT_NAME_PATTERN}],
        }

    # Words, env and quantities.
    nullable("ServiceSpec", "command", _WORDS)
    nullable("ServiceSpec", "args", _WORDS)
    defs["ExecAction"]["properties"]["command"] = dict(_WORDS)
    prop("ServiceSpec", "env").update(
        {"additionalProperties": _SCALAR_TEXT, "propertyNames": {"pattern": ENV_NAME_PATTERN}}
    )
    for model, names in (("ResourceSpec", ("cpu", "memory")), ("ResourceAmounts", ("cpu", "memory"))):
        for name in names:
            nullable(model, name, _QUANTITY)
    nullable("VolumeSpec", "size", _QUANTITY)

    # Services: a list of services or a map keyed by name (the key is the name).
    in_map = copy.deepcopy(defs["ServiceSpec"])
    in_map["title"] = "ServiceInMap"
    in_map["description"] = "A service in the map style; the key is its name, so 'name' may be left out."
    in_map["required"] = []
    defs["ServiceInMap"] = in_map
    services = schema["properties"]["services"]
    schema["properties"]["services"] = {
        "description": services.get("description", ""),
        "anyOf": [
            {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/ServiceSpec"}},
            {
                "type": "object",
                "minProperties": 1,
                "propertyNames": {"pattern": DNS_LABEL_PATTERN},
                "additionalProperties": {"anyOf": [{"$ref": "#/$defs/ServiceInMap"}, {"type": "null"}]},
            },
        ],
    }
    return {
        "$schema": DRAFT,
        "$id": SCHEMA_ID,
        "title": "MicroStax Blueprint",
        "description": (
            "A declarative description of one developer environment: its services, how they connect, "
            "routing for baselines and overlays, data seeding and idle/TTL policies."
        ),
        **{k: v for k, v in schema.items() if k not in {"title", "description"}},
    }


def _strip_property_titles(definition: dict[str, Any]) -> None:
    """pydantic titles every property after its Python name ("Containerport"); editors show them."""
    for value in definition.get("properties", {}).values():
        value.pop("title", None)
