"""Reads: get, list (selectors, ``limit``/``continue`` paging) and the scale subresource view."""

from __future__ import annotations

import base64
import json
from typing import Any

from .calls import Call, Response
from .errors import ApiError, bad_request
from .resources import ResourceType
from .selectors import parse_field_selector, parse_label_selector, selector_to_string
from .store import Store
from .util import Obj


class ReadMixin:
    """GET of one object or a collection; mixed into ``Api``."""

    store: Store

    def get(self, call: Call) -> Response:
        obj = self._current(call.rt, call.namespace, call.name)
        if call.subresource == "scale":
            return 200, self._scale_view(call.rt, obj), {}
        return 200, obj, {}

    def list(self, call: Call) -> Response:
        rt, q = call.rt, call.query
        labels = parse_label_selector(q.get("labelSelector"))
        fields = parse_field_selector(q.get("fieldSelector"), rt.kind)
        with self.store.lock:
            items = self.store.list(rt, call.namespace or None)
            list_rv = self.store.rv
        items = [o for o in items if labels(o["metadata"].get("labels") or {}) and fields(o)]
        meta: dict[str, Any] = {"resourceVersion": str(list_rv)}
        token = q.get("continue")
        if token:
            start, token_rv = self._decode_continue(token)
            items = [o for o in items if self._sort_key(o) > start]
            meta["resourceVersion"] = str(token_rv)
        limit = int(q.get("limit") or 0)
        if limit > 0 and len(items) > limit:
            remaining = len(items) - limit
            items = items[:limit]
            last = self._sort_key(items[-1])
            meta["continue"] = base64.b64encode(
                json.dumps(
                    {"v": "meta.k8s.io/v1", "rv": int(meta["resourceVersion"]), "start": last + "\u0000"}
                ).encode()
            ).decode()
            meta["remainingItemCount"] = remaining
        out_items = [{k: v for k, v in o.items() if k not in ("kind", "apiVersion")} for o in items]
        return 200, {"kind": f"{rt.kind}List", "apiVersion": rt.api_version, "metadata": meta, "items": out_items}, {}

    @staticmethod
    def _sort_key(obj: Obj) -> str:
        md = obj["metadata"]
        return f"{md.get('namespace', '')}/{md['name']}"

    def _decode_continue(self, token: str) -> tuple[str, int]:
        try:
            data = json.loads(base64.b64decode(token))
            start, rv = str(data["start"]).rstrip("\u0000"), int(data["rv"])
        except (ValueError, KeyError, TypeError) as exc:
            raise bad_request(f"continue key is not valid: {exc}") from exc
        try:
            self.store.events_after(rv)
        except Exception as exc:
            raise ApiError(
                410,
                "Expired",
                "The provided continue parameter is too old to display a consistent list result. You can start a "
                "new list without the continue parameter, or use the continue token in this response to retrieve "
                "the remainder of the results. Continuing with the provided token results in an inconsistent list "
                "- objects that were created, modified, or deleted between the time the first chunk was returned "
                "and now may show up in the list.",
                {},
            ) from exc
        return start, rv

    def _scale_view(self, rt: ResourceType, obj: Obj) -> Obj:
        md = obj["metadata"]
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                k: md[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in md
            },
            "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
            "status": {
                "replicas": (obj.get("status") or {}).get("replicas", 0),
                "selector": selector_to_string((obj.get("spec") or {}).get("selector")),
            },
        }
