"""Validate a blueprint and explain every problem at once: the public entry point.

>>> result = validate_blueprint(text, plan="production")
>>> result.valid, [p.format("blueprint.yaml") for p in result.problems], result.hash

Steps: safe parsing with positions (:mod:`blueprints.parsing`), shape checks by the pydantic
models (:mod:`blueprints.spec`) translated into plain-English problems with stable codes,
cross-field rules (:mod:`blueprints.rules`), lint warnings (:mod:`blueprints.lint`) and, when
there is no error, normalization and the identity hash (:mod:`blueprints.normalize`).

:func:`validate_blueprint` never raises: any internal surprise becomes an ``MSX-E030`` problem.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field
from difflib import get_close_matches
from typing import Any

from pydantic import BaseModel, ValidationError

from blueprints.lint import lint
from blueprints.locator import Locator
from blueprints.normalize import normalize_spec, spec_hash
from blueprints.parsing import ParsedDocument, Path, PathPart, format_path, parse_yaml, scalar_text
from blueprints.problems import Problem, sort_problems
from blueprints.rules import RuleOptions, SpecParts, check_rules
from blueprints.spec import BlueprintSpec, PlanSpec, RoutingSpec, ServiceSpec, SnapshotSpec, services_as_list

ROUTING_MODES = frozenset({"isolated", "baseline", "overlay"})


@dataclass
class ValidationResult:
    """The outcome of :func:`validate_blueprint`.

    ``valid`` is True when there is no error (lint warnings are allowed). ``spec`` is the parsed
    model whenever the blueprint had the right shape (even if a rule failed); ``normalized`` and
    ``hash`` are only set for a valid blueprint.
    """

    valid: bool
    problems: list[Problem] = field(default_factory=list)
    spec: BlueprintSpec | None = None
    normalized: dict[str, Any] | None = None
    hash: str | None = None

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.is_error]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if not p.is_error]

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "problems": [p.to_dict() for p in self.problems],
            "normalized": self.normalized,
            "hash": self.hash,
        }


def validate_blueprint(
    text: str,
    *,
    plan: str | None = None,
    base_given: bool = False,
    known_upstream_services: set[str] | None = None,
) -> ValidationResult:
    """Check a blueprint's YAML text; never raises.

    ``plan`` applies a named plan to the normalized form (an unknown plan is an error).
    ``base_given`` says the environment will be created on top of a base given at creation time,
    so it is an overlay and needs no ``routing.baselineId``. ``known_upstream_services`` lists the
    services of the provider chain when known; for an overlay without it, dependencies on
    services this blueprint does not define are left to be checked at creation time.
    """
    try:
        options = RuleOptions(
            base_given=bool(base_given),
            known_upstream_services=(
                frozenset(known_upstream_services) if known_upstream_services is not None else None
            ),
            plan=plan,
        )
        return validate_document(parse_yaml(text), options)
    except Exception as exc:  # noqa: BLE001 - the validator must answer, whatever the input
        problem = Problem.make(
            "MSX-E030",
            f"the blueprint could not be checked because of an internal error ({type(exc).__name__}); "
            "please report this with the blueprint attached",
        )
        return ValidationResult(valid=False, problems=[problem])


def validate_document(doc: ParsedDocument, options: RuleOptions) -> ValidationResult:
    """Validate an already parsed document (used by the Compose importer and the CLI)."""
    problems = list(doc.problems)
    if not doc.ok:
        return ValidationResult(valid=False, problems=sort_problems(problems))
    data = doc.data
    if not isinstance(data, dict):
        got = "is empty" if data is None else f"is {_describe(data)}"
        problems.append(
            Problem.make(
                "MSX-E004",
                f"a blueprint must be a mapping of fields (name, services, …), but the document {got}",
                position=doc.positions.root_position if data is not None else None,
            )
        )
        return ValidationResult(valid=False, problems=sort_problems(problems))

    locator = Locator(doc)
    no_services = _no_services(data, locator)
    problems.extend(no_services)
    spec: BlueprintSpec | None = None
    try:
        spec = BlueprintSpec.model_validate(data)
    except ValidationError as exc:
        problems.extend(_structure_problems(exc, data, locator, skip_services=bool(no_services)))
    parts = _parts_of(spec) if spec is not None else _partial_parts(data)
    problems.extend(check_rules(parts, locator, options))
    problems.extend(lint(parts, locator, options))
    problems = sort_problems(problems)
    if spec is None or any(p.is_error for p in problems):
        return ValidationResult(valid=False, problems=problems, spec=spec)
    normalized = normalize_spec(spec, plan=options.plan, base_given=options.base_given)
    return ValidationResult(valid=True, problems=problems, spec=spec, normalized=normalized, hash=spec_hash(normalized))


def _no_services(data: dict[str, Any], locator: Locator) -> list[Problem]:
    services = data.get("services")
    if "services" in data and services not in (None, [], {}):
        return []
    where = ("services",) if "services" in data else ()
    _shown, position = locator.where(where, at_key=True)
    return [
        Problem.make(
            "MSX-E010",
            "the blueprint defines no services; add at least one under 'services'",
            path="services",
            position=position,
        )
    ]


# --- the parts that passed ----------------------------------------------------------------------
def _parts_of(spec: BlueprintSpec) -> SpecParts:
    return SpecParts(
        services=list(enumerate(spec.services)),
        names={i: s.name for i, s in enumerate(spec.services)},
        routing=spec.routing,
        mode=spec.routing.mode if spec.routing is not None else None,
        plans=dict(spec.plans),
        snapshot=spec.snapshot,
    )


def _partial_parts(data: dict[str, Any]) -> SpecParts:
    """Validate each part on its own so the rules can still run on the good ones."""
    parts = SpecParts()
    raw_services = services_as_list(data.get("services"))
    if isinstance(raw_services, list):
        for index, item in enumerate(raw_services):
            name = item.get("name") if isinstance(item, dict) else None
            if isinstance(name, str):
                parts.names[index] = name
            model, stripped = _lenient_service(item)
            if model is not None:
                parts.services.append((index, model))
                if stripped:
                    parts.stripped[index] = stripped
    routing = data.get("routing")
    if isinstance(routing, dict):
        mode = routing.get("mode")
        parts.mode = mode if isinstance(mode, str) and mode in ROUTING_MODES else None
        parts.routing = _try(RoutingSpec, routing)
    plans = data.get("plans")
    if isinstance(plans, dict):
        for plan_name, body in plans.items():
            plan = _try(PlanSpec, body)
            if plan is not None:
                parts.plans[plan_name] = plan
    snapshot = data.get("snapshot")
    if snapshot is not None:
        parts.snapshot = _try(SnapshotSpec, snapshot)
    return parts


def _lenient_service(item: Any) -> tuple[ServiceSpec | None, frozenset[str]]:
    """The service without its malformed fields, and which fields were left out."""
    try:
        return ServiceSpec.model_validate(item), frozenset()
    except ValidationError as exc:
        if not isinstance(item, dict):
            return None, frozenset()
        bad = {error["loc"][0] if error["loc"] else None for error in exc.errors()}
        if None in bad or "name" in bad or not all(isinstance(b, str) for b in bad):
            return None, frozenset()
        remaining = {key: value for key, value in item.items() if key not in bad}
        model = _try(ServiceSpec, remaining)
        return (model, frozenset(str(b) for b in bad)) if model is not None else (None, frozenset())


def _try(model: type[BaseModel], value: Any) -> Any:
    try:
        return model.model_validate(value)
    except ValidationError:
        return None


# --- pydantic errors in plain English -----------------------------------------------------------
_TYPE_WORDS = {
    "string_type": "must be text",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "list_type": "must be a list",
    "dict_type": "must be a mapping (key: value pairs)",
    "model_type": "must be a mapping (key: value pairs)",
    "model_attributes_type": "must be a mapping (key: value pairs)",
}


def _structure_problems(
    exc: ValidationError, data: dict[str, Any], locator: Locator, *, skip_services: bool
) -> list[Problem]:
    problems = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        if skip_services and loc[:1] == ("services",) and len(loc) == 1:
            continue
        problems.append(_problem_from_error(error, data, locator))
    return problems


def _problem_from_error(error: Any, data: dict[str, Any], locator: Locator) -> Problem:
    loc: list[PathPart] = [part for part in error["loc"] if part != "[key]"]
    at_key = "[key]" in error["loc"] or error["type"] == "extra_forbidden"
    raw, at_key = _raw_path(loc, data, locator, at_key)
    position = locator.positions.locate(raw, at_key=at_key)
    shown = format_path(raw)
    kind: str = error["type"]
    value = error.get("input")
    label = _label(raw)
    if kind.startswith("MSX-"):
        return Problem.make(kind, error["msg"], path=shown, position=position)
    if kind == "missing":
        return Problem.make("MSX-E005", f"required field {label!r} is missing", path=shown, position=position)
    if kind == "extra_forbidden":
        return Problem.make("MSX-E006", _unknown_field_message(label, tuple(loc[:-1])), path=shown, position=position)
    if kind in _TYPE_WORDS:
        hint = " (write '' for an empty value)" if value is None and kind == "string_type" else ""
        message = f"{label!r} {_TYPE_WORDS[kind]}, got {_describe(value)}{hint}"
        return Problem.make("MSX-E007", message, path=shown, position=position)
    context = error.get("ctx") or {}
    if kind == "literal_error":
        message = f"{label!r} must be one of {context.get('expected')}, got {_describe(value)}"
    elif kind in {"greater_than_equal", "greater_than", "less_than_equal", "less_than"}:
        bound = next(iter(context.values()), "")
        words = {
            "greater_than_equal": "at least",
            "greater_than": "more than",
            "less_than_equal": "at most",
            "less_than": "less than",
        }[kind]
        message = f"{label!r} must be {words} {bound}, got {_describe(value)}"
    elif kind == "too_short":
        message = f"{label!r} must not be empty"
    elif kind == "finite_number":
        message = f"{label!r} must be a finite number"
    else:
        message = f"{label!r}: {error['msg']}"
    return Problem.make("MSX-E008", message, path=shown, position=position)


def _raw_path(loc: list[PathPart], data: Any, locator: Locator, at_key: bool) -> tuple[Path, bool]:
    """The model's error location as a path in the document as written.

    Stops where the document holds a scalar that a model turned into an object (``"8080:80"``),
    and keeps one missing step so "missing field" names the field.
    """
    node: Any = data
    raw: list[PathPart] = []
    for step, part in enumerate(loc):
        if isinstance(node, dict):
            if isinstance(part, int) and raw == ["services"] and locator.service_keys is not None:
                key = locator.service_keys[part] if 0 <= part < len(locator.service_keys) else part
                body = node.get(key)
                rest = loc[step + 1 :]
                if rest[:1] == ["name"] and (not isinstance(body, dict) or "name" not in body):
                    # The name of a map-style service is its key.
                    return (*raw, key), True
                part = key
            raw.append(part)
            if part not in node:
                break
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            raw.append(part)
            node = node[part]
        else:
            break
    return tuple(raw), at_key


def _label(path: Path) -> str:
    if not path:
        return "blueprint"
    last = path[-1]
    if isinstance(last, int):
        return format_path(path[-2:]) if len(path) > 1 else f"[{last}]"
    return str(last)


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"the number {scalar_text(value)}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the text {shown!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


# Docker Compose spellings and their blueprint counterparts.
_COMPOSE_NAMES = {
    "environment": "env",
    "entrypoint": "command",
    "healthcheck": "probes",
    "build": "image",
    "deploy": "replicas",
    "target": "containerPort",
    "published": "port",
}


def _unknown_field_message(key: str, parent: tuple[PathPart, ...]) -> str:
    allowed = _fields_at(parent)
    message = f"unknown field {key!r}"
    if not allowed:
        return message
    if _COMPOSE_NAMES.get(key) in allowed:
        hint = "Compose files convert with 'microstax blueprint import'"
        return f"{message}; did you mean {_COMPOSE_NAMES[key]!r}? ({hint})"
    squashed = {name.lower().replace("_", "").replace("-", ""): name for name in allowed}
    match = squashed.get(key.lower().replace("_", "").replace("-", ""))
    if match is None:
        close = get_close_matches(key, allowed, n=1, cutoff=0.6)
        match = close[0] if close else None
    if match is not None:
        return f"{message}; did you mean {match!r}?"
    return f"{message}; allowed here: {', '.join(sorted(allowed))}"


def _fields_at(loc: tuple[PathPart, ...]) -> list[str]:
    """Field names (aliases) of the model found at ``loc`` of a BlueprintSpec, or []."""
    model: type[BaseModel] | None = BlueprintSpec
    skip = 0
    for part in loc:
        if skip:
            skip -= 1
            continue
        if model is None or not isinstance(part, str):
            return []
        found = next((f for f in model.model_fields.values() if f.alias == part), None)
        if found is None:
            return []
        model, skip = _inner_model(found.annotation)
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _inner_model(annotation: Any) -> tuple[type[BaseModel] | None, int]:
    """The model inside ``list[X]``, ``dict[str, X]``, ``X | None`` and how many containers wrap it."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _inner_model(typing.get_args(annotation)[0])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, 0
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            model, depth = _inner_model(arg)
            if model is not None:
                return model, depth
        return None, 0
    if origin in (list, dict):
        args = typing.get_args(annotation)
        if args:
            model, depth = _inner_model(args[-1])
            return model, depth + 1
    return None, 0
