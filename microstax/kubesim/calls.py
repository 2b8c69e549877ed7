"""``Call``: one routed REST request as the API layer sees it, and request-body decoding.

Also the pure request checks every write shares (``check_type``, ``check_namespace_field``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import yaml

from .errors import ApiError, bad_request
from .resources import ResourceType
from .util import Obj

YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
)


@dataclass
class Call:
    """One REST call, already routed."""

    verb: str
    rt: ResourceType
    namespace: str = ""
    name: str = ""
    subresource: str = ""
    query: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    body: bytes = b""
    user_agent: str = ""

    @property
    def dry_run(self) -> bool:
        return self.query.get("dryRun") == "All"

    @property
    def manager(self) -> str:
        """``fieldManager``, or the User-Agent's product token as the apiserver derives it."""
        fm = self.query.get("fieldManager")
        if fm:
            return fm
        return (self.user_agent.split("/", 1)[0] or "unknown")[:128]

    def json_body(self) -> Any:
        if not self.body:
            return None
        if "protobuf" in self.content_type:
            # client-go's typed clients (kubectl create/scale) send protobuf; kubesim speaks JSON only.
            raise ApiError(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format - accepted media types include: "
                f'application/json, application/yaml; got "{self.content_type}" (kubesim does not decode protobuf)',
                {},
            )
        if "yaml" in self.content_type and "apply-patch" not in self.content_type:
            try:
                return yaml.load(self.body.decode(), Loader=YAML_LOADER)
            except yaml.YAMLError as exc:
                raise bad_request(f"error decoding YAML: {exc}") from exc
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise bad_request(f"couldn't get version/kind; json parse error: {exc}") from exc


Response = tuple[int, Any, dict[str, str]]


def check_type(rt: ResourceType, body: Any, *, required: bool = False) -> Obj:
    """The body as an object of ``rt``: apiVersion/kind must match the URL (400 otherwise)."""
    if not isinstance(body, dict):
        raise bad_request("the body of the request was not a valid object")
    api_version, kind = body.get("apiVersion"), body.get("kind")
    if required and (not api_version or not kind):
        missing = "apiVersion" if not api_version else "kind"
        raise bad_request(
            f"Object '{missing.capitalize() if missing == 'kind' else missing}' is missing in "
            f"'{json.dumps(body)[:200]}'"
        )
    if api_version and api_version != rt.api_version:
        raise bad_request(
            f"the API version in the data ({api_version}) does not match the expected API version ({rt.api_version})"
        )
    if kind and kind != rt.kind:
        raise bad_request(f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})")
    body["apiVersion"], body["kind"] = rt.api_version, rt.kind
    if not isinstance(body.get("metadata"), dict):
        body["metadata"] = {}
    return body


def check_namespace_field(rt: ResourceType, obj: Obj, namespace: str) -> None:
    md = obj["metadata"]
    if rt.namespaced:
        if md.get("namespace") and md["namespace"] != namespace:
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        md["namespace"] = namespace
    else:
        md.pop("namespace", None)
