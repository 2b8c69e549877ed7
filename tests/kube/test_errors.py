"""Translating API errors into retryable and terminal ones, and the retry loop (pure, no cluster)."""

from __future__ import annotations

import json

import pytest
import urllib3
from kubernetes.client.exceptions import ApiException

from microstax import kube
from microstax.kube.errors import backoff_delay, error_from_response


def _status(code: int, reason: str, message: str, **details: object) -> bytes:
    return json.dumps(
        {"kind": "Status", "code": code, "reason": reason, "message": message, "details": details}
    ).encode()


@pytest.mark.parametrize(
    ("code", "reason", "message", "details", "error", "retryable"),
    [
        (429, "TooManyRequests", "slow down", {}, kube.TooManyRequests, True),
        (500, "InternalError", "boom", {}, kube.ServerError, True),
        (504, "Timeout", "too slow", {}, kube.ServerError, True),
        (409, "Conflict", "the object has been modified", {}, kube.Conflict, True),
        (409, "AlreadyExists", 'configmaps "x" already exists', {}, kube.AlreadyExists, False),
        (409, "AlreadyExists", 'object is being deleted: namespaces "x" already exists', {}, kube.Conflict, True),
        (
            409,
            "Conflict",
            "Apply failed with 1 conflict",
            {"causes": [{"type": "FieldManagerConflict", "field": ".spec.replicas", "message": "x"}]},
            kube.FieldConflict,
            False,
        ),
        (409, "Conflict", "Precondition failed: UID in precondition: a", {}, kube.PreconditionFailed, False),
        (400, "BadRequest", "nope", {}, kube.BadRequest, False),
        (401, "Unauthorized", "who?", {}, kube.Unauthorized, False),
        (403, "Forbidden", "rbac says no", {}, kube.Forbidden, False),
        (
            403,
            "Forbidden",
            "being terminated",
            {"causes": [{"reason": "NamespaceTerminating", "field": "metadata.namespace", "message": "x"}]},
            kube.NamespaceTerminating,
            False,
        ),
        (404, "NotFound", "gone", {}, kube.NotFound, False),
        (410, "Expired", "too old resource version", {}, kube.Expired, True),
        (
            422,
            "Invalid",
            "bad",
            {"causes": [{"reason": "FieldValueRequired", "field": "spec.selector", "message": "Required value"}]},
            kube.Invalid,
            False,
        ),
    ],
)
def test_status_bodies_map_to_our_error_classes(code, reason, message, details, error, retryable):
    err = error_from_response(code, _status(code, reason, message, **details), {})

    assert type(err) is error
    assert err.retryable is retryable and err.status == code and err.message == message


def test_invalid_carries_its_causes():
    body = _status(422, "Invalid", "bad", causes=[{"reason": "FieldValueRequired", "field": "spec.x", "message": "m"}])

    err = error_from_response(422, body, {})

    assert err.causes == (kube.Cause("FieldValueRequired", "m", "spec.x"),)


def test_retry_after_comes_from_the_header_or_the_status_details():
    assert error_from_response(429, _status(429, "TooManyRequests", "x"), {"Retry-After": "3"}).retry_after == 3.0
    assert error_from_response(500, _status(500, "x", "y", retryAfterSeconds=2), {}).retry_after == 2.0


def test_client_library_and_network_exceptions_are_translated():
    api = ApiException(status=404, reason="Not Found")
    api.body = _status(404, "NotFound", "missing")

    assert isinstance(kube.translate(api), kube.NotFound)
    assert isinstance(kube.translate(urllib3.exceptions.ProtocolError("reset")), kube.ConnectionFailed)
    assert isinstance(kube.translate(ConnectionResetError()), kube.ConnectionFailed)
    assert isinstance(
        kube.translate(urllib3.exceptions.ReadTimeoutError(None, "/", "timed out")), kube.ConnectionFailed
    )


def test_backoff_is_jittered_exponential_with_retry_after_as_a_floor_and_a_ceiling():
    for attempt in range(1, 8):
        delay = backoff_delay(attempt, base_delay=0.1, max_delay=1.0, retry_after=None)
        assert 0.1 <= delay <= min(1.0, 0.1 * 2 ** (attempt - 1))
    assert backoff_delay(1, base_delay=0.1, max_delay=5.0, retry_after=3) == 3
    assert backoff_delay(1, base_delay=0.1, max_delay=5.0, retry_after=60) == 5.0


def test_with_retries_stops_at_the_first_terminal_error():
    calls = []

    def forbidden() -> None:
        calls.append(1)
        raise kube.Forbidden("no", status=403)

    with pytest.raises(kube.Forbidden):
        kube.with_retries(forbidden, attempts=5, sleep=lambda s: None)
    assert len(calls) == 1


def test_with_retries_returns_once_a_transient_error_clears():
    outcomes = [kube.ServerError("a", status=500), kube.TooManyRequests("b", status=429, retry_after=0.5), "ok"]
    slept: list[float] = []

    def flaky() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert kube.with_retries(flaky, attempts=3, base_delay=0.01, max_delay=1.0, sleep=slept.append) == "ok"
    assert len(slept) == 2 and slept[1] == 0.5


def test_with_retries_does_not_sleep_past_its_deadline():
    import time

    def always_busy() -> None:
        raise kube.TooManyRequests("busy", status=429, retry_after=10)

    with pytest.raises(kube.TooManyRequests):
        kube.with_retries(always_busy, attempts=10, max_delay=30, deadline=time.monotonic() + 1, sleep=pytest.fail)
