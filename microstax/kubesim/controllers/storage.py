"""PersistentVolumeClaim binding (dynamic provisioning), PVC protection and PV reclaim.

A claim of a ``WaitForFirstConsumer`` StorageClass stays ``Pending`` (event
``WaitForFirstConsumer``) until the scheduler picks a node for a pod that uses it, as on k3s's
``local-path``; ``Immediate`` classes bind after ``pvc_bind``. Binding provisions a
``pvc-<uid>`` PersistentVolume. The ``kubernetes.io/pvc-protection`` finalizer holds a deleted
claim until no running pod uses it.
"""

from __future__ import annotations

import time

from .. import resources as R
from ..store import WatchEvent
from ..util import Obj, clone
from .base import Controller, Key
from .ownership import pod_active

PROVISIONER = "rancher.io/local-path"
_PV_PREFIX = "#pv:"


def _uses(pod: Obj, claim: str) -> bool:
    return any(
        (v.get("persistentVolumeClaim") or {}).get("claimName") == claim
        for v in (pod.get("spec") or {}).get("volumes") or []
    )


class VolumeController(Controller):
    name = "persistentvolume"
    component = "persistentvolume-controller"

    def __init__(self, sim: object) -> None:
        super().__init__(sim)  # type: ignore[arg-type]
        self._bind_due: dict[str, float] = {}

    def keys_for(self, event: WatchEvent) -> list[Key]:
        md = event.obj["metadata"]
        ns = md.get("namespace", "")
        if event.rt is R.PVC:
            if event.type == "DELETED":
                return [(ns, _PV_PREFIX + (event.obj.get("spec") or {}).get("volumeName", ""))]
            return [(ns, md["name"])]
        if event.rt is R.POD and (event.type == "DELETED" or not pod_active(event.obj)):
            return [
                (ns, c["metadata"]["name"])
                for c in self.store.list(R.PVC, ns)
                if c["metadata"].get("deletionTimestamp") and _uses(event.obj, c["metadata"]["name"])
            ]
        if event.rt is R.STORAGECLASS:
            return [
                (c["metadata"]["namespace"], c["metadata"]["name"])
                for c in self.store.list(R.PVC)
                if (c.get("status") or {}).get("phase") == "Pending"
            ]
        return []

    def reconcile(self, key: Key) -> None:
        ns, name = key
        if name.startswith(_PV_PREFIX):
            self._reclaim(name[len(_PV_PREFIX) :])
            return
        pvc = self.store.get(R.PVC, ns, name)
        if pvc is None:
            return
        if pvc["metadata"].get("deletionTimestamp"):
            in_use = any(_uses(p, name) and pod_active(p) for p in self.store.list(R.POD, ns))
            if not in_use:
                self.api.remove_finalizer(R.PVC, pvc, "kubernetes.io/pvc-protection")
            return
        if (pvc.get("status") or {}).get("phase") == "Bound":
            return
        class_name = (pvc.get("spec") or {}).get("storageClassName")
        sc = self.store.get(R.STORAGECLASS, "", class_name or "") if class_name else None
        if sc is None:
            message = (
                f'storageclass.storage.k8s.io "{class_name}" not found'
                if class_name
                else "no persistent volumes available for this claim and no storage class is set"
            )
            self.event(R.PVC, pvc, "Warning", "ProvisioningFailed" if class_name else "FailedBinding", message)
            return
        selected = (pvc["metadata"].get("annotations") or {}).get("volume.kubernetes.io/selected-node")
        if sc.get("volumeBindingMode") == "WaitForFirstConsumer" and not selected:
            self.event(
                R.PVC, pvc, "Normal", "WaitForFirstConsumer", "waiting for first consumer to be created before binding"
            )
            return
        uid = pvc["metadata"]["uid"]
        now = time.time()
        due = self._bind_due.setdefault(uid, now + self.delays.wall(self.delays.pvc_bind))
        if now < due:
            self.enqueue(key, due - now)
            return
        self._bind_due.pop(uid, None)
        self._bind(pvc, sc)

    def _bind(self, pvc: Obj, sc: Obj) -> None:
        md = pvc["metadata"]
        pv_name = f"pvc-{md['uid']}"
        provisioner = sc.get("provisioner", PROVISIONER)
        self.event(
            R.PVC,
            pvc,
            "Normal",
            "Provisioning",
            f'External provisioner is provisioning volume for claim "{md["namespace"]}/{md["name"]}"',
            provisioner,
        )
        spec = pvc.get("spec") or {}
        storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
        pv = {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {
                "name": pv_name,
                "annotations": {"pv.kubernetes.io/provisioned-by": provisioner},
                "finalizers": ["kubernetes.io/pv-protection"],
            },
            "spec": {
                "capacity": {"storage": storage},
                "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": sc.get("reclaimPolicy", "Delete"),
                "storageClassName": sc["metadata"]["name"],
                "volumeMode": spec.get("volumeMode", "Filesystem"),
                "hostPath": {
                    "path": f"/var/lib/rancher/k3s/storage/{pv_name}_{md['namespace']}_{md['name']}",
                    "type": "DirectoryOrCreate",
                },
                "claimRef": {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "name": md["name"],
                    "namespace": md["namespace"],
                    "uid": md["uid"],
                    "resourceVersion": md.get("resourceVersion", ""),
                },
            },
        }
        if self.store.get(R.PV, "", pv_name) is None:
            created = self.api.ctl_create(R.PV, pv, "kube-controller-manager")
            pv_status = dict(created, status={"phase": "Bound"})
            self.api.ctl_update(R.PV, pv_status, self.component, "status")
        new = clone(pvc)
        new["spec"]["volumeName"] = pv_name
        ann = new["metadata"].setdefault("annotations", {})
        ann.update(
            {
                "pv.kubernetes.io/bind-completed": "yes",
                "pv.kubernetes.io/bound-by-controller": "yes",
                "volume.beta.kubernetes.io/storage-provisioner": provisioner,
                "volume.kubernetes.io/storage-provisioner": provisioner,
            }
        )
        bound = self.api.ctl_update(R.PVC, new, self.component)
        if bound is None:
            return
        self.update_status(
            R.PVC,
            bound,
            {
                "phase": "Bound",
                "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
                "capacity": {"storage": storage},
            },
        )
        self.event(
            R.PVC, bound, "Normal", "ProvisioningSucceeded", f"Successfully provisioned volume {pv_name}", provisioner
        )

    def _reclaim(self, pv_name: str) -> None:
        pv = self.store.get(R.PV, "", pv_name) if pv_name else None
        if pv is None:
            return
        if (pv.get("spec") or {}).get("persistentVolumeReclaimPolicy") == "Delete":
            self.api.ctl_delete(R.PV, pv)
            self.api.remove_finalizer(R.PV, pv, "kubernetes.io/pv-protection")
        else:
            self.update_status(R.PV, pv, {"phase": "Released"})
