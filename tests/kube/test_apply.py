"""Server-side apply, write skipping, conflicts and prune — against every backend."""

from __future__ import annotations

import pytest

from microstax import kube
from microstax.kube import labels as L
from microstax.kubesim import KubeSim

from . import manifests as m

WRITE_METHODS = ("PATCH", "POST", "PUT", "DELETE")


def _writes(sim: KubeSim) -> list[str]:
    return [f"{r.method} {r.path}" for r in sim.recorder.requests if r.method in WRITE_METHODS]


def test_apply_creates_every_object_with_our_labels_and_spec_hash(cluster, env, images):
    desired = m.small_namespace(env, images)

    report = kube.apply(cluster, desired)

    assert report.writes == len(desired) and report.skipped == 0
    assert {ref.kind for ref in report.created} == {o["kind"] for o in desired}
    for live in report.objects:
        md = live["metadata"]
        assert md["labels"][L.MANAGED_BY] == "microstax"
        assert md["labels"][L.ENVIRONMENT] == env.id
        assert md["labels"][L.TEAM] == env.team
        assert (
            md["annotations"][L.SPEC_HASH]
            == L.with_managed_metadata(next(o for o in desired if o["kind"] == live["kind"]))["metadata"][
                "annotations"
            ][L.SPEC_HASH]
        )


def test_apply_writes_with_server_side_apply_as_microstax(cluster, env, images, sim):
    kube.apply(cluster, [env.namespace_manifest(), m.configmap(env)])

    patches = sim.recorder.filter(method="PATCH")
    assert len(patches) == 2
    assert all(p.is_apply and p.field_manager == "microstax" and p.force for p in patches)


def test_reapplying_unchanged_objects_makes_zero_writes(cluster, env, images, sim):
    desired = m.small_namespace(env, images)
    kube.apply(cluster, desired)
    sim.recorder.clear()

    report = kube.apply(cluster, desired)

    assert report.writes == 0 and report.skipped == len(desired)
    assert _writes(sim) == []
    # One LIST per kind and namespace, not one GET per object.
    assert len(sim.recorder.filter(verb="list")) == len({(o["kind"], o["metadata"].get("namespace")) for o in desired})


def test_reapplying_unchanged_objects_is_reported_as_skipped(cluster, env, images):
    desired = m.small_namespace(env, images)
    kube.apply(cluster, desired)

    report = kube.apply(cluster, desired)

    assert report.writes == 0
    assert sorted(map(str, report.unchanged)) == sorted(str(kube.ObjectRef.of(o)) for o in desired)


def test_a_changed_object_is_the_only_one_written(cluster, env, images, sim):
    desired = m.small_namespace(env, images)
    kube.apply(cluster, desired)
    sim.recorder.clear()
    changed = [o if o["kind"] != "ConfigMap" else m.configmap(env, data={"LOG_LEVEL": "debug"}) for o in desired]

    report = kube.apply(cluster, changed)

    assert [str(r) for r in report.updated] == [f"ConfigMap/{env.namespace}/settings"]
    assert report.skipped == len(desired) - 1
    assert _writes(sim) == [f"PATCH /api/v1/namespaces/{env.namespace}/configmaps/settings"]
    live = next(o for o in report.objects if o["kind"] == "ConfigMap")
    assert live["data"] == {"LOG_LEVEL": "debug"}


def test_apply_adds_environment_and_team_labels_when_given(cluster, env):
    bare = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": env.namespace}}

    report = kube.apply(cluster, [bare], environment_id=env.id, team_slug=env.team)

    assert report.objects[0]["metadata"]["labels"] == {
        **report.objects[0]["metadata"]["labels"],
        **kube.managed_labels(env.id, env.team),
    }


def test_apply_refuses_objects_that_prune_could_never_find(cluster, env):
    bare = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": env.namespace}}

    with pytest.raises(ValueError, match=L.ENVIRONMENT):
        kube.apply(cluster, [bare])


def test_unknown_kinds_raise_a_terminal_error(cluster, env):
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": env.meta("w")}

    with pytest.raises(kube.UnknownKind):
        kube.apply(cluster, [env.namespace_manifest(), widget])


def test_invalid_objects_raise_invalid_with_causes(cluster, env):
    broken = m.deployment(env)
    broken["spec"]["replicas"] = "two"
    kube.apply(cluster, [env.namespace_manifest()])

    with pytest.raises(kube.Invalid) as caught:
        kube.apply(cluster, [broken])

    assert caught.value.status == 422 and not caught.value.retryable


def _scale_as_kubectl(cluster: kube.ClusterConfig, env, replicas: int) -> None:
    """Another field manager takes ownership of spec.replicas (like ``kubectl scale``)."""
    client = kube.get_client(cluster)
    path = client.resource("apps/v1", "Deployment").path(env.namespace, "web")
    client.request(
        "PATCH",
        path,
        query={"fieldManager": "kubectl-scale"},
        body={"spec": {"replicas": replicas}},
        content_type="application/merge-patch+json",
    )


def test_field_owned_by_another_manager_conflicts_without_force(cluster, env, images):
    kube.apply(cluster, [env.namespace_manifest(), m.deployment(env, image=images.web)])
    _scale_as_kubectl(cluster, env, 3)

    with pytest.raises(kube.FieldConflict) as caught:
        kube.apply(cluster, [m.deployment(env, image=images.web, replicas=2)], force=False)

    assert ".spec.replicas" in caught.value.conflicts
    assert caught.value.status == 409 and not caught.value.retryable


def test_force_takes_ownership_of_conflicting_fields(cluster, env, images):
    kube.apply(cluster, [env.namespace_manifest(), m.deployment(env, image=images.web)])
    _scale_as_kubectl(cluster, env, 3)

    report = kube.apply(cluster, [m.deployment(env, image=images.web, replicas=2)])

    live = report.objects[0]
    assert live["spec"]["replicas"] == 2
    owners = {
        f["manager"]
        for f in live["metadata"]["managedFields"]
        if "f:replicas" in (f.get("fieldsV1") or {}).get("f:spec", {})
    }
    assert owners == {"microstax"}


def test_prune_deletes_objects_that_left_the_desired_set(cluster, env, images):
    desired = m.small_namespace(env, images)
    kube.apply(cluster, desired)
    kept = [o for o in desired if o["kind"] not in ("ConfigMap", "Job")]

    report = kube.prune(cluster, env.namespace, kept, environment_id=env.id)

    assert sorted(str(r) for r in report.deleted) == [
        f"ConfigMap/{env.namespace}/settings",
        f"Job/{env.namespace}/seed",
    ]
    again = kube.apply(cluster, kept)
    assert again.writes == 0


def test_prune_never_touches_unlabelled_or_foreign_objects(cluster, env, images, sim):
    kube.apply(cluster, [env.namespace_manifest(), m.configmap(env)])
    client = kube.get_client(cluster)
    configmaps = client.resource("v1", "ConfigMap")
    unlabelled = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "hand-made"}, "data": {}}
    client.request("POST", configmaps.path(env.namespace), body=unlabelled)
    other_env = m.configmap(env, "other-env")
    other_env["metadata"]["labels"][L.ENVIRONMENT] = "someone-else"
    kube.apply(cluster, [other_env])
    sim.recorder.clear()

    report = kube.prune(cluster, env.namespace, [], environment_id=env.id)

    assert [str(r) for r in report.deleted] == [f"ConfigMap/{env.namespace}/settings"]
    deletes = [r.name for r in sim.recorder.filter(method="DELETE")]
    assert deletes == ["settings"]
    assert client.request("GET", configmaps.path(env.namespace, "hand-made"))["metadata"]["name"] == "hand-made"


def test_prune_of_an_unchanged_set_deletes_nothing(cluster, env, images):
    desired = m.small_namespace(env, images)
    kube.apply(cluster, desired)

    assert kube.prune(cluster, env.namespace, desired, environment_id=env.id).deleted == []


def test_ensure_namespace_is_idempotent(cluster, env, sim):
    first = kube.ensure_namespace(cluster, env.namespace, env.labels)
    sim.recorder.clear()

    second = kube.ensure_namespace(cluster, env.namespace, env.labels)

    assert second["metadata"]["uid"] == first["metadata"]["uid"]
    assert _writes(sim) == []
