"""Namespace lifecycle: guarded delete, Terminating as a normal state, waiting on a watch."""

from __future__ import annotations

import pytest

from microstax import kube

from . import manifests as m


def _release(cluster, sim, name: str) -> None:
    """Let a stuck namespace finish terminating (kubesim wakes its namespace controller)."""
    sim.faults.unstick_namespace(name)


def test_deleting_a_namespace_goes_through_terminating_to_gone(cluster, env, images):
    kube.apply(cluster, m.small_namespace(env, images))

    state = kube.delete_namespace(cluster, env.namespace)
    final = kube.wait_namespace_gone(cluster, env.namespace, 30.0)

    assert state.phase in ("terminating", "absent")
    assert final.gone
    assert kube.get_namespace(cluster, env.namespace) is None


def test_deleting_an_absent_namespace_is_a_no_op(cluster, env):
    assert kube.delete_namespace(cluster, env.namespace).gone


def test_an_unlabelled_namespace_is_never_deleted(cluster, env, sim):
    client = kube.get_client(cluster)
    namespaces = client.resource("v1", "Namespace")
    client.request("POST", namespaces.path(), body={"metadata": {"name": env.namespace}})
    sim.recorder.clear()

    with pytest.raises(kube.NotManaged):
        kube.delete_namespace(cluster, env.namespace)

    assert sim.recorder.filter(method="DELETE") == []
    assert kube.get_namespace(cluster, env.namespace) is not None
    client.request("DELETE", namespaces.path(name=env.namespace))


def test_a_stuck_namespace_stays_terminating_until_its_finalizer_goes(cluster, env, sim):
    kube.ensure_namespace(cluster, env.namespace, env.labels)
    sim.faults.stick_namespace(env.namespace)
    kube.delete_namespace(cluster, env.namespace)

    stuck = kube.wait_namespace_gone(cluster, env.namespace, 0.3)
    _release(cluster, sim, env.namespace)
    gone = kube.wait_namespace_gone(cluster, env.namespace, 30.0)

    assert stuck.phase == "terminating" and not stuck.gone
    assert gone.gone


def test_ensure_namespace_refuses_a_terminating_namespace(cluster, env, sim):
    kube.ensure_namespace(cluster, env.namespace, env.labels)
    sim.faults.stick_namespace(env.namespace)
    kube.delete_namespace(cluster, env.namespace)

    with pytest.raises(kube.NamespaceTerminating):
        kube.ensure_namespace(cluster, env.namespace, {**env.labels, "changed": "yes"})

    _release(cluster, sim, env.namespace)


def test_creating_content_in_a_terminating_namespace_is_a_namespace_terminating_error(cluster, env, sim):
    kube.ensure_namespace(cluster, env.namespace, env.labels)
    sim.faults.stick_namespace(env.namespace)
    kube.delete_namespace(cluster, env.namespace)

    with pytest.raises(kube.NamespaceTerminating) as caught:
        kube.apply(cluster, [m.configmap(env)])

    assert caught.value.status == 403 and not caught.value.retryable
    _release(cluster, sim, env.namespace)
