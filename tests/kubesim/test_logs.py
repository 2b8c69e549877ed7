"""Pod logs: plain reads, options, follow, and the kubelet's 400s."""

from __future__ import annotations

import json

import pytest
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from microstax.kubesim import KubeSim

from .helpers import deployment, job, wait_for


def _running_pod(core: client.CoreV1Api, namespace: str) -> str:
    pod = wait_for(
        core.list_namespaced_pod, lambda p: (p.get("status") or {}).get("phase") == "Running", namespace=namespace
    )
    return pod["metadata"]["name"]


def test_logs_start_with_lines_naming_the_image(core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str) -> None:
    apps.create_namespaced_deployment(namespace, deployment("web", image="ghcr.io/acme/web:2.1"))
    name = _running_pod(core, namespace)
    text = core.read_namespaced_pod_log(name, namespace)
    assert isinstance(text, str)
    lines = text.splitlines()
    assert "ghcr.io/acme/web:2.1" in lines[0] and lines[2] == "web: starting up, pid 1"
    assert "web: listening on 0.0.0.0:8080" in lines
    tail = core.read_namespaced_pod_log(name, namespace, tail_lines=1, timestamps=True)
    stamp, _, rest = tail.rstrip("\n").partition(" ")
    assert len(tail.splitlines()) == 1 and stamp.endswith("Z") and "." in stamp and rest


def test_follow_streams_new_lines(core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str) -> None:
    apps.create_namespaced_deployment(namespace, deployment("web"))
    name = _running_pod(core, namespace)
    lines = []
    w = watch.Watch()
    for line in w.stream(core.read_namespaced_pod_log, name=name, namespace=namespace, follow=True):
        lines.append(line)
        if "heartbeat" in line and len([x for x in lines if "heartbeat" in x]) >= 3:
            w.stop()
    beats = [x for x in lines if "heartbeat" in x]
    assert len(beats) >= 3 and beats[-1].startswith("web: heartbeat ")


def test_follow_of_a_finished_job_ends_with_the_exit(
    core: client.CoreV1Api, batch: client.BatchV1Api, namespace: str
) -> None:
    batch.create_namespaced_job(namespace, job("seed"))
    pod = wait_for(
        core.list_namespaced_pod, lambda p: (p.get("status") or {}).get("phase") == "Succeeded", namespace=namespace
    )
    resp = core.read_namespaced_pod_log(pod["metadata"]["name"], namespace, follow=True, _preload_content=False)
    text = b"".join(resp.stream()).decode()
    assert text.rstrip().endswith("main: work finished, exiting with status 0")


def test_log_errors(core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str) -> None:
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_pod_log("missing", namespace)
    assert exc.value.status == 404
    apps.create_namespaced_deployment(namespace, deployment("broken", image="nginx:does-not-exist"))
    pod = wait_for(
        core.list_namespaced_pod,
        lambda p: any(
            (c.get("state") or {}).get("waiting", {}).get("reason") in ("ErrImagePull", "ImagePullBackOff")
            for c in (p.get("status") or {}).get("containerStatuses") or []
        ),
        namespace=namespace,
    )
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_pod_log(pod["metadata"]["name"], namespace)
    message = json.loads(exc.value.body)["message"]
    assert exc.value.status == 400
    assert message.startswith(f'container "broken" in pod "{pod["metadata"]["name"]}" is waiting to start: ')


def test_multi_container_pod_needs_a_container_name(
    core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str
) -> None:
    dep = deployment("web")
    dep["spec"]["template"]["spec"]["containers"].append({"name": "proxy", "image": "envoy:1.30"})
    apps.create_namespaced_deployment(namespace, dep)
    name = _running_pod(core, namespace)
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_pod_log(name, namespace)
    assert json.loads(exc.value.body)["message"] == (
        f"a container name must be specified for pod {name}, choose one of: [web proxy]"
    )
    assert "envoy:1.30" in core.read_namespaced_pod_log(name, namespace, container="proxy")


def test_previous_logs_of_a_crashlooping_container(
    core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str, kubesim: KubeSim
) -> None:
    apps.create_namespaced_deployment(namespace, deployment("crash", image="acme/crashloop:1"))
    pod = wait_for(
        core.list_namespaced_pod,
        lambda p: any(c.get("restartCount", 0) >= 1 for c in (p.get("status") or {}).get("containerStatuses") or []),
        namespace=namespace,
    )
    text = core.read_namespaced_pod_log(pod["metadata"]["name"], namespace, previous=True)
    assert "panic: simulated crash" in text
