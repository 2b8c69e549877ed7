"""The ASGI application serves the dashboard's static files itself: daphne in a pod has no file server."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.testing import ApplicationCommunicator
from django.core.exceptions import SuspiciousFileOperation


def get(path: str) -> tuple[int, bytes]:
    from microstax.asgi import application

    async def call() -> tuple[int, bytes]:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": [(b"host", b"testserver")],
            "server": ("testserver", 80),
            "client": ("127.0.0.1", 12345),
            "scheme": "http",
        }
        app = ApplicationCommunicator(application, scope)
        await app.send_input({"type": "http.request", "body": b"", "more_body": False})
        start = await app.receive_output(5)
        body = b""
        while True:
            message = await app.receive_output(5)
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        return start["status"], body

    return asyncio.run(call())


def test_static_files_are_served_without_debug(settings):
    settings.DEBUG = False

    status, body = get("/static/frontend/app.css")

    assert status == 200
    assert body


def test_a_missing_file_is_a_404(settings):
    settings.DEBUG = False

    status, _ = get("/static/frontend/no-such-file.css")

    assert status == 404


def test_a_path_outside_the_static_directories_is_refused(settings):
    settings.DEBUG = False

    # Django's safe_join refuses it before any file is opened; daphne answers the exception with a 500.
    with pytest.raises(SuspiciousFileOperation):
        get("/static/../settings.py")
