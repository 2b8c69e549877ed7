"""Every rendered object validates strictly, with kubernetes-validate, on every Kubernetes version it ships."""

from __future__ import annotations

import copy

import kubernetes_validate
import pytest
from kubernetes_validate import utils as kv_utils

from tests.render.helpers import schema_errors

from .helpers import objects, one

# kubernetes-validate ships 1.25 to its latest; the manifests use only APIs GA since 1.21
# (policy/v1, batch/v1 TTL, networking.k8s.io/v1), so all of them are the supported range.
VERSIONS = sorted(
    {kv_utils.major_minor(v) for v in kv_utils.all_versions()}, key=lambda v: tuple(map(int, v.split(".")))
)
VARIANTS = {
    "defaults": {},
    "s3-tls-class-metrics": {
        "snapshot_storage_url": "s3://bucket/prefix",
        "snapshot_s3_credentials": True,
        "snapshot_s3_endpoint_url": "https://s3.example.com",
        "metrics_token": True,
        "ingress_class": "traefik",
        "tls_secret": "microstax-tls",
        "namespace": "platform",
        "replicas_web": 3,
        "replicas_worker": 1,
    },
}


def test_the_supported_range_reaches_from_1_25_to_the_newest_schema():
    assert VERSIONS[0] == "1.25"
    assert VERSIONS[-1] == kv_utils.major_minor(kubernetes_validate.latest_version())
    assert "1.33" in VERSIONS  # the sandbox cluster's (kubesim's) version


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("version", VERSIONS)
def test_every_object_is_schema_valid(version, variant):
    # The cached strict validator of the renderer tests: kubernetes-validate's own schemas and
    # validator class, built once per kind and version (the library re-reads 1.8 MB per call).
    problems = [
        f"{o['kind']}/{o['metadata']['name']}: {p}"
        for o in objects(**VARIANTS[variant])
        for p in schema_errors(o, version)
    ]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("version", [VERSIONS[0], "1.33", VERSIONS[-1]])
def test_the_library_entry_point_agrees(version):
    for obj in objects(**VARIANTS["s3-tls-class-metrics"]):
        assert kubernetes_validate.validate(obj, version, strict=True) == version, obj["kind"]


def test_strict_validation_would_catch_a_misspelt_field():
    deployment = copy.deepcopy(one(objects(), "Deployment", "microstax-web"))
    # A field that belongs in securityContext, one level too high.
    deployment["spec"]["template"]["spec"]["containers"][0]["readOnlyRootFilesystem"] = True

    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSIONS[-1], strict=True)
