"""Simulated controllers: workloads reach ready, storage binds, networking gets status, failures show."""

from __future__ import annotations

from kubernetes import client

from microstax.kubesim import KubeSim

from .helpers import condition, deployment, deployment_ready, job, pvc, service, wait_for

NS_PODS = "pods"


def _waiting_reason(pod: dict) -> str | None:
    for c in (pod.get("status") or {}).get("containerStatuses") or []:
        waiting = (c.get("state") or {}).get("waiting")
        if waiting:
            return waiting.get("reason")
    return None


def test_deployment_becomes_ready_and_scales_to_zero(
    apps: client.AppsV1Api, core: client.CoreV1Api, namespace: str
) -> None:
    apps.create_namespaced_deployment(namespace, deployment("web", replicas=2))
    ready = wait_for(apps.list_namespaced_deployment, deployment_ready, namespace=namespace)
    assert condition(ready, "Progressing")["reason"] == "NewReplicaSetAvailable"
    assert condition(ready, "Available")["reason"] == "MinimumReplicasAvailable"
    rs = apps.list_namespaced_replica_set(namespace).items[0]
    assert rs.metadata.owner_references[0].kind == "Deployment" and rs.status.ready_replicas == 2
    pods = core.list_namespaced_pod(namespace).items
    assert len(pods) == 2 and all(p.spec.node_name == "kubesim-node" and p.status.pod_ip for p in pods)
    assert all(p.metadata.labels["pod-template-hash"] == rs.metadata.labels["pod-template-hash"] for p in pods)
    apps.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": 0}})
    scaled = wait_for(
        apps.list_namespaced_deployment,
        lambda d: deployment_ready(d) and not core.list_namespaced_pod(namespace).items,
        namespace=namespace,
    )
    assert (scaled["status"].get("replicas") or 0) == 0


def test_rollout_of_a_new_template_replaces_the_replica_set(apps: client.AppsV1Api, namespace: str) -> None:
    apps.create_namespaced_deployment(namespace, deployment("web"))
    wait_for(apps.list_namespaced_deployment, deployment_ready, namespace=namespace)
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.28"}]}}}}
    apps.patch_namespaced_deployment("web", namespace, patch)
    done = wait_for(
        apps.list_namespaced_deployment,
        lambda d: deployment_ready(d) and d["metadata"]["generation"] == 2,
        namespace=namespace,
    )
    assert done["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    sets = {r.metadata.name: r.spec.replicas for r in apps.list_namespaced_replica_set(namespace).items}
    assert sorted(sets.values()) == [0, 1]


def test_job_completes(batch: client.BatchV1Api, namespace: str) -> None:
    batch.create_namespaced_job(namespace, job("seed"))
    done = wait_for(batch.list_namespaced_job, lambda j: condition(j, "Complete") is not None, namespace=namespace)
    assert done["status"]["succeeded"] == 1 and done["status"]["completionTime"]
    assert condition(done, "SuccessCriteriaMet")["status"] == "True"
    assert done["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"] == done["metadata"]["uid"]


def test_job_with_failing_image_fails_after_backoff_limit(
    batch: client.BatchV1Api, core: client.CoreV1Api, namespace: str
) -> None:
    batch.create_namespaced_job(namespace, job("migrate", image="acme/fail-migration:1", backoffLimit=1))
    failed = wait_for(batch.list_namespaced_job, lambda j: condition(j, "Failed") is not None, namespace=namespace)
    assert condition(failed, "Failed")["reason"] == "BackoffLimitExceeded"
    assert failed["status"]["failed"] == 2
    assert all(p.status.phase == "Failed" for p in core.list_namespaced_pod(namespace).items)


def test_image_pull_failure_is_reported_with_events(
    apps: client.AppsV1Api, core: client.CoreV1Api, namespace: str
) -> None:
    apps.create_namespaced_deployment(namespace, deployment("web", image="nginx:does-not-exist"))
    pod = wait_for(core.list_namespaced_pod, lambda p: _waiting_reason(p) == "ImagePullBackOff", namespace=namespace)
    assert pod["status"]["phase"] == "Pending"
    events = core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={pod['metadata']['name']}")
    reasons = {(e.type, e.reason) for e in events.items}
    assert {("Normal", "Pulling"), ("Warning", "Failed"), ("Normal", "BackOff")} <= reasons
    assert any("ErrImagePull" in e.message for e in events.items)


def test_crashloop_restarts_with_rising_count(apps: client.AppsV1Api, core: client.CoreV1Api, namespace: str) -> None:
    apps.create_namespaced_deployment(namespace, deployment("web", image="acme/crashloop:1"))
    pod = wait_for(
        core.list_namespaced_pod,
        lambda p: any(c.get("restartCount", 0) >= 2 for c in (p.get("status") or {}).get("containerStatuses") or []),
        namespace=namespace,
    )
    status = pod["status"]["containerStatuses"][0]
    assert status["lastState"]["terminated"]["exitCode"] == 1
    assert pod["status"]["phase"] == "Running"
    crashing = wait_for(
        core.list_namespaced_pod, lambda p: _waiting_reason(p) == "CrashLoopBackOff", namespace=namespace
    )
    assert crashing["status"]["containerStatuses"][0]["ready"] is False


def test_deployment_that_never_becomes_available_exceeds_its_deadline(apps: client.AppsV1Api, namespace: str) -> None:
    apps.create_namespaced_deployment(
        namespace, deployment("web", image="nginx:does-not-exist", progressDeadlineSeconds=10)
    )
    stuck = wait_for(
        apps.list_namespaced_deployment,
        lambda d: (condition(d, "Progressing") or {}).get("reason") == "ProgressDeadlineExceeded",
        namespace=namespace,
    )
    assert condition(stuck, "Progressing")["status"] == "False"
    assert condition(stuck, "Available")["status"] == "False"


def test_quota_rejection_surfaces_as_failed_create(
    apps: client.AppsV1Api, core: client.CoreV1Api, namespace: str
) -> None:
    core.create_namespaced_resource_quota(namespace, {"metadata": {"name": "q"}, "spec": {"hard": {"pods": "1"}}})
    apps.create_namespaced_deployment(namespace, deployment("web", replicas=2))
    rs = wait_for(
        apps.list_namespaced_replica_set, lambda r: condition(r, "ReplicaFailure") is not None, namespace=namespace
    )
    failure = condition(rs, "ReplicaFailure")
    assert failure["reason"] == "FailedCreate" and "exceeded quota: q" in failure["message"]
    events = core.list_namespaced_event(namespace, field_selector="reason=FailedCreate").items
    assert events and events[0].involved_object.kind == "ReplicaSet"
    assert "is forbidden: exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1" in events[0].message
    dep = wait_for(
        apps.list_namespaced_deployment, lambda d: condition(d, "ReplicaFailure") is not None, namespace=namespace
    )
    assert condition(dep, "ReplicaFailure")["reason"] == "FailedCreate"
    quota = wait_for(
        core.list_namespaced_resource_quota,
        lambda q: (q.get("status") or {}).get("used") == {"pods": "1"},
        namespace=namespace,
    )
    assert quota["status"]["hard"] == {"pods": "1"}
    # Raising the quota lets the ReplicaSet controller finish the job.
    core.patch_namespaced_resource_quota("q", namespace, {"spec": {"hard": {"pods": "5"}}})
    wait_for(apps.list_namespaced_deployment, deployment_ready, namespace=namespace)


def test_compute_quota_requires_limits(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_resource_quota(
        namespace, {"metadata": {"name": "compute"}, "spec": {"hard": {"limits.cpu": "2"}}}
    )
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}
    try:
        core.create_namespaced_pod(namespace, pod)
    except client.ApiException as exc:
        assert exc.status == 403 and "failed quota: compute: must specify limits.cpu for: app" in exc.body
    else:
        raise AssertionError("pod without limits was admitted under a limits.cpu quota")
    # A LimitRange default fills the limits in, and the pod is admitted.
    core.create_namespaced_limit_range(
        namespace,
        {
            "metadata": {"name": "lr"},
            "spec": {"limits": [{"type": "Container", "default": {"cpu": "500m"}, "defaultRequest": {"cpu": "100m"}}]},
        },
    )
    created = core.create_namespaced_pod(namespace, pod)
    assert created.spec.containers[0].resources.limits == {"cpu": "500m"}
    assert "LimitRanger plugin set" in created.metadata.annotations["kubernetes.io/limit-ranger"]


def test_pvc_binding_modes(core: client.CoreV1Api, namespace: str, kubesim: KubeSim) -> None:
    core.create_namespaced_persistent_volume_claim(namespace, pvc("fast"))
    bound = wait_for(
        core.list_namespaced_persistent_volume_claim,
        lambda c: (c.get("status") or {}).get("phase") == "Bound",
        namespace=namespace,
    )
    assert bound["spec"]["storageClassName"] == "standard" and bound["spec"]["volumeName"].startswith("pvc-")
    assert kubesim.get("persistentvolumes", "", bound["spec"]["volumeName"])["status"]["phase"] == "Bound"
    core.create_namespaced_persistent_volume_claim(namespace, pvc("lazy", storage_class="local-path"))
    assert kubesim.wait_idle()
    assert core.read_namespaced_persistent_volume_claim("lazy", namespace).status.phase == "Pending"
    pod = {
        "metadata": {"name": "user"},
        "spec": {
            "containers": [{"name": "app", "image": "postgres:16", "volumeMounts": [{"name": "d", "mountPath": "/d"}]}],
            "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "lazy"}}],
        },
    }
    core.create_namespaced_pod(namespace, pod)
    wait_for(
        core.list_namespaced_persistent_volume_claim,
        lambda c: c["metadata"]["name"] == "lazy" and (c.get("status") or {}).get("phase") == "Bound",
        namespace=namespace,
    )
    wait_for(core.list_namespaced_pod, lambda p: (p.get("status") or {}).get("phase") == "Running", namespace=namespace)


def test_pod_with_missing_claim_is_unschedulable(core: client.CoreV1Api, namespace: str) -> None:
    pod = {
        "metadata": {"name": "user"},
        "spec": {
            "containers": [{"name": "app", "image": "postgres:16"}],
            "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "nope"}}],
        },
    }
    core.create_namespaced_pod(namespace, pod)
    got = wait_for(core.list_namespaced_pod, lambda p: condition(p, "PodScheduled") is not None, namespace=namespace)
    assert condition(got, "PodScheduled")["reason"] == "Unschedulable"
    assert 'persistentvolumeclaim "nope" not found' in condition(got, "PodScheduled")["message"]


def test_missing_secret_reference_blocks_container_start(core: client.CoreV1Api, namespace: str) -> None:
    pod = {
        "metadata": {"name": "app"},
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "acme/api:1",
                    "env": [{"name": "PW", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}],
                }
            ]
        },
    }
    core.create_namespaced_pod(namespace, pod)
    waiting = wait_for(
        core.list_namespaced_pod, lambda p: _waiting_reason(p) == "CreateContainerConfigError", namespace=namespace
    )
    assert waiting["status"]["containerStatuses"][0]["state"]["waiting"]["message"] == 'secret "db" not found'
    core.create_namespaced_secret(namespace, {"metadata": {"name": "db"}, "stringData": {"password": "x"}})
    wait_for(core.list_namespaced_pod, lambda p: (p.get("status") or {}).get("phase") == "Running", namespace=namespace)


def test_ingress_httproute_and_load_balancer_status(
    core: client.CoreV1Api, networking: client.NetworkingV1Api, custom: client.CustomObjectsApi, namespace: str
) -> None:
    core.create_namespaced_service(namespace, service("web"))
    ingress = {
        "metadata": {"name": "web"},
        "spec": {
            "rules": [
                {
                    "host": "web-env.example.test",
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "web", "port": {"number": 80}}},
                            }
                        ]
                    },
                }
            ]
        },
    }
    networking.create_namespaced_ingress(namespace, ingress)
    got = wait_for(
        networking.list_namespaced_ingress,
        lambda i: bool(((i.get("status") or {}).get("loadBalancer") or {}).get("ingress")),
        namespace=namespace,
    )
    assert got["status"]["loadBalancer"]["ingress"] == [{"ip": "10.0.0.10"}]
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "web"},
        "spec": {
            "parentRefs": [{"name": "gw", "namespace": "kube-system"}],
            "hostnames": ["web.example.test"],
            "rules": [{"backendRefs": [{"name": "web", "port": 80}]}],
        },
    }
    created = custom.create_namespaced_custom_object("gateway.networking.k8s.io", "v1", namespace, "httproutes", route)
    assert created["spec"]["rules"][0]["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]
    accepted = wait_for(
        lambda **kw: custom.list_namespaced_custom_object(
            "gateway.networking.k8s.io", "v1", namespace, "httproutes", **kw
        ),
        lambda r: bool((r.get("status") or {}).get("parents")),
    )
    conds = {c["type"]: c["status"] for c in accepted["status"]["parents"][0]["conditions"]}
    assert conds == {"Accepted": "True", "ResolvedRefs": "True"}
    lb = service("edge")
    lb["spec"]["type"] = "LoadBalancer"
    svc = core.create_namespaced_service(namespace, lb)
    assert 30000 <= svc.spec.ports[0].node_port <= 32767
    wait_for(
        core.list_namespaced_service,
        lambda s: (
            s["metadata"]["name"] == "edge" and bool(((s.get("status") or {}).get("loadBalancer") or {}).get("ingress"))
        ),
        namespace=namespace,
    )
