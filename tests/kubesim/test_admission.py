"""Admission: OpenAPI schema checks and semantic validation answered as the apiserver does."""

from __future__ import annotations

import json

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic.exceptions import DynamicApiError

from microstax.kubesim import KubeSim

from .helpers import deployment


def _create(dyn, api_version: str, kind: str, namespace: str, body: dict, **kw: object):  # noqa: ANN001, ANN202
    """Create through the DynamicClient: v37's typed APIs validate dict bodies client-side with pydantic,
    so a malformed manifest never reaches the server that way."""
    body = {"apiVersion": api_version, "kind": kind, **body}
    return dyn.resources.get(api_version=api_version, kind=kind).create(body=body, namespace=namespace, **kw)


def _invalid(exc: pytest.ExceptionInfo) -> dict:
    body = json.loads(exc.value.body)
    assert exc.value.status == 422 and body["reason"] == "Invalid", body
    return body


def test_wrong_type_is_invalid_with_a_cause(dyn, namespace: str) -> None:  # noqa: ANN001
    dep = deployment("web")
    dep["spec"]["replicas"] = "two"
    with pytest.raises(DynamicApiError) as exc:
        _create(dyn, "apps/v1", "Deployment", namespace, dep)
    body = _invalid(exc)
    assert body["details"]["name"] == "web" and body["details"]["kind"] == "Deployment"
    assert body["details"]["causes"][0]["field"] == "spec.replicas"
    assert body["details"]["causes"][0]["reason"] == "FieldValueTypeInvalid"
    assert body["message"].startswith('Deployment.apps "web" is invalid: spec.replicas: Invalid value')


def test_missing_containers_is_required(dyn, namespace: str) -> None:  # noqa: ANN001
    dep = deployment("web")
    del dep["spec"]["template"]["spec"]["containers"]
    with pytest.raises(DynamicApiError) as exc:
        _create(dyn, "apps/v1", "Deployment", namespace, dep)
    causes = _invalid(exc)["details"]["causes"]
    assert {
        "reason": "FieldValueRequired",
        "message": "Required value",
        "field": "spec.template.spec.containers",
    } in causes


def test_selector_must_match_template_labels(apps: client.AppsV1Api, namespace: str) -> None:
    dep = deployment("web")
    dep["spec"]["selector"] = {"matchLabels": {"app": "other"}}
    with pytest.raises(ApiException) as exc:
        apps.create_namespaced_deployment(namespace, dep)
    cause = _invalid(exc)["details"]["causes"][0]
    assert cause["field"] == "spec.template.metadata.labels"
    assert "`selector` does not match template `labels`" in cause["message"]


def test_bad_quantity_is_invalid(core: client.CoreV1Api, namespace: str) -> None:
    quota = {"metadata": {"name": "q"}, "spec": {"hard": {"cpu": "abc", "memory": "1Gi"}}}
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_resource_quota(namespace, quota)
    cause = _invalid(exc)["details"]["causes"][0]
    assert cause["field"] == "spec.hard[cpu]" and "quantities must match the regular expression" in cause["message"]


def test_invalid_names(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as exc:
        core.create_namespace({"metadata": {"name": "Bad_Name!"}})
    cause = _invalid(exc)["details"]["causes"][0]
    assert cause == {
        "reason": "FieldValueInvalid",
        "field": "metadata.name",
        "message": 'Invalid value: "Bad_Name!": a lowercase RFC 1123 label must consist of lower case alphanumeric '
        "characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
        "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
    }
    with pytest.raises(ApiException) as exc:
        core.create_namespace({"metadata": {"name": "x" * 64}})
    assert "must be no more than 63 characters" in _invalid(exc)["message"]


def test_service_names_are_dns1035(core: client.CoreV1Api, namespace: str) -> None:
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_service(namespace, {"metadata": {"name": "1web"}, "spec": {"ports": [{"port": 80}]}})
    assert "DNS-1035 label" in _invalid(exc)["details"]["causes"][0]["message"]


def test_enum_and_semantic_checks(api_client: client.ApiClient, namespace: str) -> None:
    net = client.NetworkingV1Api(api_client)
    policy = {"metadata": {"name": "deny"}, "spec": {"podSelector": {}, "policyTypes": ["Bogus"]}}
    with pytest.raises(ApiException) as exc:
        net.create_namespaced_network_policy(namespace, policy)
    assert _invalid(exc)["details"]["causes"][0]["reason"] == "FieldValueNotSupported"
    batch = client.BatchV1Api(api_client)
    job = {"metadata": {"name": "j"}, "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x"}]}}}}
    with pytest.raises(ApiException) as exc:
        batch.create_namespaced_job(namespace, job)
    cause = _invalid(exc)["details"]["causes"][0]
    assert cause["field"] == "spec.template.spec.restartPolicy" and cause["reason"] == "FieldValueRequired"


def test_unknown_fields_follow_field_validation(kubesim: KubeSim, dyn, namespace: str) -> None:  # noqa: ANN001
    dep = deployment("web")
    dep["spec"]["replcas"] = 2
    with pytest.raises(DynamicApiError) as exc:
        _create(dyn, "apps/v1", "Deployment", namespace, dep)
    body = json.loads(exc.value.body)
    assert exc.value.status == 400 and body["reason"] == "BadRequest"
    assert body["message"] == (
        'Deployment in version "v1" cannot be handled as a Deployment: strict decoding '
        'error: unknown field "spec.replcas"'
    )
    # Warn (the upstream default when a client does not ask) drops the field with a Warning header.
    out = _create(dyn, "apps/v1", "Deployment", namespace, dep, query_params=[("fieldValidation", "Warn")])
    assert "replcas" not in json.dumps(out.to_dict())
    created = [r for r in kubesim.recorder.filter(verb="create", resource="deployments") if r.status == 201]
    assert created and created[-1].query["fieldValidation"] == "Warn"


def test_invalid_secret_data_is_a_decode_error(core: client.CoreV1Api, namespace: str) -> None:
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_secret(namespace, {"metadata": {"name": "s"}, "data": {"k": "not base64!"}})
    assert exc.value.status == 400 and "illegal base64 data" in json.loads(exc.value.body)["message"]


def test_immutable_fields(apps: client.AppsV1Api, namespace: str) -> None:
    apps.create_namespaced_deployment(namespace, deployment("web"))
    patch = {
        "spec": {
            "selector": {"matchLabels": {"app": "web", "x": "y"}},
            "template": {"metadata": {"labels": {"app": "web", "x": "y"}}},
        }
    }
    with pytest.raises(ApiException) as exc:
        apps.patch_namespaced_deployment("web", namespace, patch)
    assert "field is immutable" in _invalid(exc)["message"]


def test_a_limit_without_a_request_defaults_the_request_to_the_limit_under_a_limitrange(kubesim, core):
    core.create_namespace({"metadata": {"name": "lr"}})
    core.create_namespaced_limit_range(
        "lr",
        {
            "metadata": {"name": "defaults"},
            "spec": {"limits": [{"type": "Container", "defaultRequest": {"cpu": "100m"}, "default": {"cpu": "500m"}}]},
        },
    )
    pod = core.create_namespaced_pod(
        "lr",
        {
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "nginx:1.27", "resources": {"limits": {"cpu": "20m"}}}]},
        },
    )
    assert pod.spec.containers[0].resources.requests == {"cpu": "20m"}
