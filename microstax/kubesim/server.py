"""The HTTP front end: routing, auth, faults, recording, JSON and chunked responses.

Stdlib ``ThreadingHTTPServer`` with HTTP/1.1 keep-alive and ``TCP_NODELAY`` (Nagle plus delayed
ACKs costs ~40 ms per request otherwise). Watches and followed logs use chunked transfer
encoding and flush one event per chunk.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from . import discovery, logs, openapi, openapi_v2
from .calls import Call
from .errors import ApiError, method_not_allowed, unauthorized
from .recorder import RecordedRequest
from .resources import ResourceType, by_gvr
from .tables import to_table, wants_table
from .util import new_uid
from .watch import WatchRequest

if TYPE_CHECKING:
    from .sim import KubeSim

_NOT_FOUND_BODY = {
    "kind": "Status",
    "apiVersion": "v1",
    "metadata": {},
    "status": "Failure",
    "message": "the server could not find the requested resource",
    "reason": "NotFound",
    "details": {},
    "code": 404,
}


OPENAPI_V2 = "openapi/v2"  # marker: the Swagger document, rendered per Accept header


class Route:
    """Where a path points: a discovery document, a resource call, or nothing."""

    def __init__(self) -> None:
        self.doc: Any = None
        self.rt: ResourceType | None = None
        self.namespace = ""
        self.name = ""
        self.subresource = ""
        self.watch_path = False


def route(path: str, sim: KubeSim, host: str) -> Route:
    r = Route()
    parts = [unquote(p) for p in path.strip("/").split("/") if p]
    if path.rstrip("/") in ("/version", ""):
        r.doc = discovery.version(sim.config) if parts else {"paths": ["/api", "/api/v1", "/apis", "/version"]}
        return r
    if parts in (["healthz"], ["livez"], ["readyz"]):
        r.doc = "ok"
        return r
    if parts == ["openapi", "v2"]:
        r.doc = OPENAPI_V2
        return r
    if parts[:2] == ["openapi", "v3"]:
        r.doc = openapi.root() if len(parts) == 2 else openapi.group_version(sim.config, "/".join(parts[2:]))
        return r
    if parts == ["api"]:
        r.doc = discovery.core_versions(host)
        return r
    if parts == ["apis"]:
        r.doc = discovery.group_list()
        return r
    if parts[:1] == ["api"] and len(parts) >= 2:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 2:
        if len(parts) == 2:
            r.doc = discovery.group(parts[1])
            return r
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return r
    if not rest:
        r.doc = discovery.resource_list(group, version)
        return r
    if rest[0] == "watch":
        r.watch_path = True
        rest = rest[1:]
    # /api/v1/namespaces/{name}/status|finalize addresses the Namespace itself, not a collection in it.
    if len(rest) >= 3 and rest[0] == "namespaces" and not (group == "" and rest[2] in ("status", "finalize")):
        r.namespace, rest = rest[1], rest[2:]
    rt = by_gvr(group, version, rest[0]) if rest else None
    if rt is None or (r.namespace and not rt.namespaced):
        return r
    r.rt = rt
    if len(rest) >= 2:
        r.name = rest[1]
    if len(rest) >= 3:
        r.subresource = rest[2]
        if r.subresource not in rt.subresources or len(rest) > 3:
            r.rt = None
    return r


def verb_for(method: str, r: Route, query: dict[str, str]) -> str:
    watching = r.watch_path or query.get("watch", "").lower() in ("1", "t", "true")
    if method in ("GET", "HEAD"):
        if r.name:
            return "watch" if watching else "get"
        return "watch" if watching else "list"
    if method == "POST":
        return "create" if not r.name else "post"
    if method == "PUT":
        return "update"
    if method == "PATCH":
        return "patch"
    if method == "DELETE":
        return "delete" if r.name else "deletecollection"
    return method.lower()


class Handler(BaseHTTPRequestHandler):
    _record: RecordedRequest
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "kubesim"
    server: Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    # -- plumbing ------------------------------------------------------------------------------

    def _send(
        self, code: int, body: bytes, ctype: str = "application/json", headers: dict[str, str] | None = None
    ) -> None:
        self._record.status = code
        reason = HTTPStatus(code).phrase if code in HTTPStatus._value2member_map_ else "Unknown"
        head = [
            f"HTTP/1.1 {code} {reason}",
            f"Content-Type: {ctype}",
            f"Content-Length: {len(body)}",
            "Cache-Control: no-cache, private",
            f"Audit-Id: {new_uid()}",
        ]
        for k, v in (headers or {}).items():
            head.append(f"{k}: {v}")
        if self.close_connection:
            head.append("Connection: close")
        payload = ("\r\n".join(head) + "\r\n\r\n").encode()
        if self.command != "HEAD":
            payload += body
        self.wfile.write(payload)

    def _send_json(self, code: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send(code, json.dumps(obj, separators=(",", ":")).encode(), "application/json", headers)

    def _start_chunked(self, ctype: str) -> None:
        self._record.status = 200
        head = [
            "HTTP/1.1 200 OK",
            f"Content-Type: {ctype}",
            "Transfer-Encoding: chunked",
            "Cache-Control: no-cache, private",
            f"Audit-Id: {new_uid()}",
        ]
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode())

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _end_chunked(self) -> None:
        self.wfile.write(b"0\r\n\r\n")

    def _abort(self) -> None:
        """Drop the connection mid-stream, as a proxy or a crashed apiserver would."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -- request handling ----------------------------------------------------------------------

    def _handle(self) -> None:
        sim = self.server.sim
        split = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        ctype = self.headers.get("Content-Type", "")
        r = route(split.path, sim, f"{self.server.server_address[0]}:{self.server.server_address[1]}")
        verb = verb_for(self.command, r, query) if r.rt is not None else self.command.lower()
        resource = r.rt.plural if r.rt else ""
        record = RecordedRequest(
            method=self.command,
            path=split.path,
            verb=verb,
            resource=resource,
            subresource=r.subresource,
            namespace=r.namespace,
            name=r.name,
            query=query,
            content_type=ctype,
            user_agent=self.headers.get("User-Agent", ""),
        )
        self._record = record
        sim.recorder.record(record)
        try:
            if sim.config.require_token and self.headers.get("Authorization") != f"Bearer {sim.config.token}":
                raise unauthorized()
            decision = sim.faults.decide(verb, resource, record.namespace, r.name)
            if decision.latency:
                time.sleep(decision.latency)
            if decision.error is not None:
                raise decision.error
            if r.doc is not None or (r.rt is None and split.path.startswith("/openapi/v3/")):
                if r.doc is None:
                    self._send_json(404, _NOT_FOUND_BODY)
                elif r.doc is OPENAPI_V2:
                    self._send(200, *openapi_v2.render(sim.config, self.headers.get("Accept", "")))
                elif r.doc == "ok":
                    self._send(200, b"ok", "text/plain; charset=utf-8")
                else:
                    self._send_json(200, r.doc)
                return
            if r.rt is None:
                self._send_json(404, _NOT_FOUND_BODY)
                return
            call = Call(
                verb, r.rt, r.namespace, r.name, r.subresource, query, ctype, body, self.headers.get("User-Agent", "")
            )
            self._dispatch(call, decision.drop_watch_after, decision.abrupt)
        except ApiError as err:
            self._send_json(err.code, err.status(), err.headers)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # a bug in kubesim: answer like an apiserver panic handler would
            sim.errors.append(exc)
            err = ApiError(500, "InternalError", f"Internal error occurred: {type(exc).__name__}: {exc}", {})
            try:
                self._send_json(500, err.status())
            except OSError:
                self.close_connection = True

    def _dispatch(self, call: Call, drop_after: int | None, abrupt: bool) -> int:
        api = self.server.sim.api
        accept = self.headers.get("Accept", "")
        if call.verb == "watch":
            return self._watch(call, drop_after, abrupt)
        if call.subresource == "log":
            if call.verb != "get":
                raise method_not_allowed()
            return self._logs(call)
        handlers = {
            "get": api.get,
            "list": api.list,
            "create": api.create,
            "update": api.update,
            "patch": api.patch,
            "delete": api.delete,
            "deletecollection": api.delete_collection,
        }
        fn = handlers.get(call.verb)
        if fn is None or call.verb not in call.rt.verbs and not call.subresource:
            raise method_not_allowed()
        if call.subresource and call.verb not in ("get", "update", "patch"):
            raise method_not_allowed()
        code, obj, headers = fn(call)
        if call.verb in ("get", "list") and wants_table(accept):
            obj = to_table(call.rt, obj, call.verb == "list")
        self._send_json(code, obj, headers)
        return code

    def _watch(self, call: Call, drop_after: int | None, abrupt: bool) -> int:
        sim = self.server.sim
        request = WatchRequest(sim.store, call.rt, call.namespace, call.query)
        if call.name:
            request.fields = _and(request.fields, lambda o, n=call.name: o["metadata"].get("name") == n)
        self._start_chunked("application/json")
        sent = 0
        try:
            for event in request.events(closing=sim.is_closing, bookmark_interval=sim.bookmark_interval()):
                self._chunk(json.dumps(event, separators=(",", ":")).encode() + b"\n")
                sent += 1
                if drop_after is not None and sent >= drop_after:
                    if abrupt:
                        self._abort()
                        return 200
                    break
            self._end_chunked()
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True
        return 200

    def _logs(self, call: Call) -> int:
        sim = self.server.sim
        opts = logs.LogOptions.from_query(call.query)
        pod, run = logs.resolve_run(sim.store, sim.runtime, call.namespace, call.name, opts)
        interval = sim.log_interval()
        if not opts.follow:
            self._send(200, logs.read(run, opts, interval).encode(), "text/plain")
            return 200
        self._start_chunked("text/plain")
        try:
            for text in logs.follow(sim.store, sim.runtime, pod, run, opts, interval, sim.is_closing):
                self._chunk(text.encode())
            self._end_chunked()
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True
        return 200


def _and(a: Any, b: Any) -> Any:
    return lambda obj: a(obj) and b(obj)


class Server(ThreadingHTTPServer):
    """Threaded server that remembers its connections so ``stop()`` can close keep-alive ones."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sim: KubeSim) -> None:
        self.sim = sim
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conns_lock:
            self._conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
