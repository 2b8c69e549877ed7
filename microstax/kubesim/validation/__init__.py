"""Semantic validation that the OpenAPI schemas cannot express (``pkg/apis/*/validation``).

Each check returns ``details.causes`` entries worded like apimachinery's ``field.Error``:
``{"reason": "FieldValueInvalid", "message": "Invalid value: \\"x\\": …", "field": "metadata.name"}``.

``common`` holds the cause builders and object-meta checks, ``workloads`` the pod-spec based
kinds, ``kinds`` everything else and the per-kind dispatcher ``validate_object``.
"""

from __future__ import annotations

from .common import Cause, check_labels, check_metadata, check_name, check_quantity
from .kinds import validate_object
from .workloads import check_pod_spec

__all__ = [
    "Cause",
    "check_labels",
    "check_metadata",
    "check_name",
    "check_pod_spec",
    "check_quantity",
    "validate_object",
]
