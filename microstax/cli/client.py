"""A small GraphQL-over-HTTP client for the MicroStax API (standard library only).

``POST {api_url}/graphql`` with ``{"query", "variables"}`` and ``Authorization: Bearer <key>``.
GraphQL ``errors`` and transport failures become :class:`ApiError` with a message a developer can
act on (which URL, what went wrong, what to check).
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

USER_AGENT = "microstax-cli/0.1"
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


class ApiError(Exception):
    """The API could not be reached or answered with errors."""

    def __init__(self, message: str, *, codes: list[str] | None = None) -> None:
        super().__init__(message)
        self.codes = codes or []


class GraphQLClient:
    """Runs GraphQL operations against one MicroStax API."""

    def __init__(self, api_url: str, api_key: str | None = None, *, timeout: float = 30.0) -> None:
        parsed = urllib.parse.urlsplit(api_url)
        if parsed.scheme not in {"http", "https"} or not parsed.hostname:
            raise ApiError(f"invalid API URL {api_url!r}: expected http(s)://host[:port]")
        self.api_url = api_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        # Talking to a local server must not go through a proxy configured for the internet.
        proxies: dict[str, str] | None = {} if parsed.hostname in _LOOPBACK else None
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler(proxies))

    @property
    def endpoint(self) -> str:
        return f"{self.api_url}/graphql"

    def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The ``data`` of a successful operation; raises :class:`ApiError` otherwise."""
        body = json.dumps({"query": query, "variables": variables or {}}).encode("utf-8")
        request = urllib.request.Request(self.endpoint, data=body, method="POST")
        request.add_header("Content-Type", "application/json")
        request.add_header("Accept", "application/json")
        request.add_header("User-Agent", USER_AGENT)
        if self.api_key:
            request.add_header("Authorization", f"Bearer {self.api_key}")
        status, raw = self._send(request)
        payload = self._decode(status, raw)
        errors = payload.get("errors")
        if errors:
            raise _graphql_error(errors)
        if status >= 400:
            raise ApiError(f"the API at {self.api_url} answered HTTP {status}")
        data = payload.get("data")
        if not isinstance(data, dict):
            raise ApiError(f"the API at {self.api_url} returned no data")
        return data

    def _send(self, request: urllib.request.Request) -> tuple[int, bytes]:
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            raw = exc.read() or b""
            if exc.code in (401, 403) and b'"errors"' not in raw:
                raise ApiError(
                    f"the API at {self.api_url} refused the request (HTTP {exc.code}); "
                    "check the API key (--api-key or MICROSTAX_API_KEY)"
                ) from None
            return exc.code, raw
        except urllib.error.URLError as exc:
            raise ApiError(self._unreachable(exc.reason)) from None
        except TimeoutError:
            raise ApiError(f"the API at {self.api_url} did not answer within {self.timeout:g} s") from None
        except OSError as exc:
            raise ApiError(self._unreachable(exc)) from None

    def _unreachable(self, reason: object) -> str:
        if isinstance(reason, ConnectionRefusedError):
            return (
                f"could not connect to the MicroStax API at {self.api_url}: connection refused; "
                "is the server running? (set --api-url or MICROSTAX_API_URL)"
            )
        if isinstance(reason, TimeoutError | socket.timeout):
            return f"the API at {self.api_url} did not answer within {self.timeout:g} s"
        if isinstance(reason, socket.gaierror):
            return f"could not resolve the host of {self.api_url} ({reason.strerror or reason})"
        return f"could not reach the MicroStax API at {self.api_url}: {reason}"

    def _decode(self, status: int, raw: bytes) -> dict[str, Any]:
        try:
            payload = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            snippet = raw[:200].decode("utf-8", "replace").strip()
            raise ApiError(
                f"the API at {self.api_url} answered HTTP {status} with something that is not JSON"
                + (f": {snippet}" if snippet else "")
            ) from None
        if not isinstance(payload, dict):
            raise ApiError(f"the API at {self.api_url} answered with unexpected JSON")
        return payload


def _graphql_error(errors: Any) -> ApiError:
    messages: list[str] = []
    codes: list[str] = []
    for error in errors if isinstance(errors, list) else [errors]:
        if isinstance(error, dict):
            message = str(error.get("message") or "unknown error")
            code = (error.get("extensions") or {}).get("code") if isinstance(error.get("extensions"), dict) else None
            if code:
                codes.append(str(code))
                message = f"{message} ({code})"
            messages.append(message)
        else:
            messages.append(str(error))
    return ApiError("; ".join(messages) or "the API reported an error", codes=codes)
