"""Registered executors: run-to-completion containers of a matching image do real work, off the
controller thread, with their environment resolved, and exit with the executor's code."""

from __future__ import annotations

import base64
import threading
import time

from kubernetes import client

from microstax.kubesim import KubeSim

from .helpers import condition, job, wait_for


def _job_with_env(name: str, image: str) -> dict:
    manifest = job(name, image=image, backoffLimit=0)
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    container["env"] = [
        {"name": "PLAIN", "value": "literal"},
        {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
        {"name": "FROM_CONFIG", "valueFrom": {"configMapKeyRef": {"name": "conf", "key": "policy.yaml"}}},
    ]
    return manifest


def _prepare(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_secret(
        namespace,
        {"metadata": {"name": "creds"}, "data": {"token": base64.b64encode(b"s3cret").decode()}},
    )
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "conf"}, "data": {"policy.yaml": "name: p\n"}})


def test_a_matching_job_runs_the_executor_with_its_resolved_environment(
    kubesim: KubeSim, batch: client.BatchV1Api, core: client.CoreV1Api, namespace: str
) -> None:
    seen: list[tuple[str, str, dict, str]] = []

    def run(ns: str, container: dict, env: dict[str, str]) -> tuple[int, list[str]]:
        seen.append((ns, container["name"], env, threading.current_thread().name))
        return 0, ["did the work", f"token has {len(env['FROM_SECRET'])} chars"]

    kubesim.register_executor(lambda image: image.startswith("example/agent"), run)
    _prepare(core, namespace)
    batch.create_namespaced_job(namespace, _job_with_env("agent", "example/agent:1"))

    done = wait_for(batch.list_namespaced_job, lambda j: condition(j, "Complete") is not None, namespace=namespace)

    assert done["status"]["succeeded"] == 1
    [(ns, container, env, thread)] = seen
    assert (ns, container) == (namespace, "main")
    assert env == {"PLAIN": "literal", "FROM_SECRET": "s3cret", "FROM_CONFIG": "name: p\n"}
    assert thread != "kubesim-controllers"
    pod = core.list_namespaced_pod(namespace).items[0].metadata.name
    log = core.read_namespaced_pod_log(pod, namespace)
    assert "did the work" in log and "token has 6 chars" in log and "exited with status 0" in log


def test_the_executors_exit_code_fails_the_job(
    kubesim: KubeSim, batch: client.BatchV1Api, core: client.CoreV1Api, namespace: str
) -> None:
    kubesim.register_executor(lambda image: "agent" in image, lambda ns, c, env: (3, ["error: refused"]))
    _prepare(core, namespace)
    batch.create_namespaced_job(namespace, _job_with_env("agent", "example/agent:1"))

    failed = wait_for(batch.list_namespaced_job, lambda j: condition(j, "Failed") is not None, namespace=namespace)

    assert failed["status"]["failed"] == 1
    pod = core.list_namespaced_pod(namespace).items[0]
    terminated = pod.status.container_statuses[0].state.terminated
    assert terminated.exit_code == 3
    assert "error: refused" in core.read_namespaced_pod_log(pod.metadata.name, namespace)


def test_a_slow_executor_does_not_block_other_pods(
    kubesim: KubeSim, batch: client.BatchV1Api, core: client.CoreV1Api, namespace: str
) -> None:
    release = threading.Event()

    def slow(ns: str, container: dict, env: dict[str, str]) -> tuple[int, list[str]]:
        release.wait(10)
        return 0, []

    kubesim.register_executor(lambda image: image.startswith("example/slow"), slow)
    batch.create_namespaced_job(namespace, job("slow", image="example/slow:1"))
    batch.create_namespaced_job(namespace, job("quick"))
    quick = wait_for(
        batch.list_namespaced_job,
        lambda j: j["metadata"]["name"] == "quick" and condition(j, "Complete") is not None,
        namespace=namespace,
    )
    assert quick["status"]["succeeded"] == 1
    assert condition(batch.read_namespaced_job("slow", namespace).to_dict(), "Complete") is None
    release.set()
    wait_for(
        batch.list_namespaced_job,
        lambda j: j["metadata"]["name"] == "slow" and condition(j, "Complete") is not None,
        namespace=namespace,
    )


def test_images_without_an_executor_and_long_running_pods_are_simulated_as_before(
    kubesim: KubeSim, batch: client.BatchV1Api, namespace: str
) -> None:
    calls: list[str] = []
    unregister = kubesim.register_executor(lambda image: True, lambda ns, c, env: calls.append(ns) or (1, []))
    unregister()
    batch.create_namespaced_job(namespace, job("seed"))
    wait_for(batch.list_namespaced_job, lambda j: condition(j, "Complete") is not None, namespace=namespace)
    time.sleep(0.05)
    assert calls == []
