"""kubesim: an in-process Kubernetes API server emulator for MicroStax's tests and sandbox cluster.

It speaks the Kubernetes REST API on plain HTTP well enough for the unmodified official Python
client (typed APIs, ``DynamicClient``, ``watch.Watch``) and kubectl: discovery, CRUD with the
server-filled fields, list selectors and paging, the four patch types, server-side apply with
field ownership and conflicts, watches with resourceVersion replay, bookmarks and in-stream 410,
pod logs with follow, namespace termination, status subresources, propagation policies and
admission (kubernetes-validate OpenAPI schemas plus the apiserver's semantic checks, 422 Invalid
with ``details.causes``).

Usage::

    from microstax.kubesim import KubeSim, Delays

    with KubeSim() as sim:                     # 127.0.0.1, free port, zero controller delays
        sim.kubeconfig("/tmp/kubeconfig")      # for kubectl or config.load_kube_config(...)
        sim.faults.add(status=429, verb="create", resource="deployments", nth=1)
        ...
        assert sim.recorder.writes("deployments")

Simulated controllers (``controllers/``) bring objects to life: Deployment → ReplicaSet → Pods →
status; Jobs; PVC binding (the ``local-path`` StorageClass is ``WaitForFirstConsumer``: its claims
stay Pending until a pod uses them; the default ``standard`` class binds immediately); Service
cluster IPs; Ingress / LoadBalancer / HTTPRoute status; ResourceQuota usage and admission (pods
refused over quota surface as a ReplicaSet ``FailedCreate`` event and ``ReplicaFailure``
condition); namespace deletion (Terminating → contents deleted → finalized → gone); garbage
collection by ownerReferences.

Failure conventions, chosen by the container image:

* image contains ``does-not-exist`` (e.g. ``nginx:does-not-exist``, ``does-not-exist/app``) →
  ``ErrImagePull`` then ``ImagePullBackOff``, with ``Pulling``/``Failed``/``BackOff`` events; the
  pod stays Pending and its Deployment never becomes available.
* image contains ``crashloop`` → the container exits 1 shortly after each start and waits in
  ``CrashLoopBackOff``; ``restartCount`` rises with exponential back-off.
* image name contains ``fail`` in a run-to-completion pod (a Job's) → exit 1; the Job retries with
  back-off and ends ``Failed`` with ``BackoffLimitExceeded``.
* a Deployment that does not become available within ``progressDeadlineSeconds`` gets
  ``Progressing=False`` / ``ProgressDeadlineExceeded``.

Time: ``Delays`` holds every simulated duration in cluster seconds; wall time is
``value × time_factor``. Tests use ``Delays.for_tests()`` (pod/PVC/namespace steps 0, back-offs and
deadlines 100× faster); the standalone server uses ``Delays.realistic()``.
"""

from __future__ import annotations

from .config import Delays, SimConfig
from .faults import Fault, FaultInjector
from .recorder import RecordedRequest, Recorder
from .sim import KubeSim

__all__ = [
    "Delays",
    "Fault",
    "FaultInjector",
    "KubeSim",
    "RecordedRequest",
    "Recorder",
    "SimConfig",
]
