"""Load-balancer status for Ingresses and LoadBalancer Services (k3s Traefik/ServiceLB style) and
Gateway API HTTPRoute parent status."""

from __future__ import annotations

import time

from .. import resources as R
from ..store import WatchEvent
from ..util import Obj, parse_rfc3339
from .base import Controller, Key, condition

GATEWAY_CONTROLLER = "kubesim.microstax.io/gateway-controller"


class NetworkController(Controller):
    name = "network"
    component = "service-lb-controller"

    def keys_for(self, event: WatchEvent) -> list[Key]:
        if event.type == "DELETED":
            if event.rt is R.SERVICE:
                ns = event.obj["metadata"].get("namespace", "")
                return [(ns, "httproutes/" + r["metadata"]["name"]) for r in self.store.list(R.HTTPROUTE, ns)]
            return []
        md = event.obj["metadata"]
        ns = md.get("namespace", "")
        if event.rt is R.INGRESS:
            return [(ns, "ingresses/" + md["name"])]
        if event.rt is R.HTTPROUTE:
            return [(ns, "httproutes/" + md["name"])]
        if event.rt is R.SERVICE:
            keys = (
                [(ns, "services/" + md["name"])] if (event.obj.get("spec") or {}).get("type") == "LoadBalancer" else []
            )
            if event.type == "ADDED":
                keys += [(ns, "httproutes/" + r["metadata"]["name"]) for r in self.store.list(R.HTTPROUTE, ns)]
            return keys
        return []

    def _due(self, obj: Obj, key: Key) -> bool:
        created = parse_rfc3339(obj["metadata"]["creationTimestamp"])
        due = created + self.delays.wall(self.delays.load_balancer)
        if time.time() < due:
            self.enqueue(key, due - time.time())
            return False
        return True

    def reconcile(self, key: Key) -> None:
        ns, ref = key
        plural, name = ref.split("/", 1)
        ip = self.sim.config.node_ip
        if plural == "ingresses":
            ing = self.store.get(R.INGRESS, ns, name)
            if ing is not None and self._due(ing, key):
                self.update_status(R.INGRESS, ing, {"loadBalancer": {"ingress": [{"ip": ip}]}})
        elif plural == "services":
            svc = self.store.get(R.SERVICE, ns, name)
            if svc is not None and (svc.get("spec") or {}).get("type") == "LoadBalancer" and self._due(svc, key):
                self.update_status(R.SERVICE, svc, {"loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"}]}})
        elif plural == "httproutes":
            route = self.store.get(R.HTTPROUTE, ns, name)
            if route is not None and self._due(route, key):
                self._route_status(route)

    def _route_status(self, route: Obj) -> None:
        ns = route["metadata"]["namespace"]
        missing = [
            b.get("name")
            for rule in (route.get("spec") or {}).get("rules") or []
            for b in rule.get("backendRefs") or []
            if b.get("kind", "Service") == "Service"
            and self.store.get(R.SERVICE, b.get("namespace", ns), b.get("name", "")) is None
        ]
        generation = route["metadata"].get("generation", 1)
        old = {(p.get("parentRef") or {}).get("name"): p for p in (route.get("status") or {}).get("parents") or []}
        parents = []
        for ref in (route.get("spec") or {}).get("parentRefs") or []:
            accepted = condition("Accepted", "True", "Accepted", "Route is accepted")
            if missing:
                resolved = condition(
                    "ResolvedRefs", "False", "BackendNotFound", f"Service(s) {', '.join(sorted(missing))} not found"
                )
            else:
                resolved = condition("ResolvedRefs", "True", "ResolvedRefs", "Resolved all the Object references")
            prev = {c.get("type"): c for c in (old.get(ref.get("name")) or {}).get("conditions") or []}
            conds = []
            for c in (accepted, resolved):
                c["observedGeneration"] = generation
                p = prev.get(c["type"])
                if (
                    p
                    and p.get("status") == c["status"]
                    and p.get("reason") == c["reason"]
                    and p.get("observedGeneration") == generation
                ):
                    c = p
                conds.append(c)
            parents.append({"parentRef": ref, "controllerName": GATEWAY_CONTROLLER, "conditions": conds})
        self.update_status(R.HTTPROUTE, route, {"parents": parents})
