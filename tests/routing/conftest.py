"""A real nginx running a generated router configuration on loopback, and stub upstreams.

The stubs are ``http.server`` servers answering every request with JSON naming themselves and
echoing the request headers they received, so a test sees both *where* a request went and
*what* the router passed on. Everything listens on 127.0.0.1 only; nginx is stopped in the
fixture's teardown whatever the test did.
"""

from __future__ import annotations

import http.client
import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

LOOPBACK = "127.0.0.1"
START_TIMEOUT = 5.0
REQUEST_TIMEOUT = 5.0


def _install_nginx() -> str | None:
    """The nginx binary, installed from Debian's archive when missing (tests run as root)."""
    found = shutil.which("nginx") or (Path("/usr/sbin/nginx").exists() and "/usr/sbin/nginx") or None
    if found:
        return found
    install = ["apt-get", "install", "-y", "--no-install-recommends", "nginx"]
    attempts = [install, ["apt-get", "update"], install]
    for command in attempts:
        try:
            subprocess.run(command, check=False, capture_output=True, timeout=300)
        except (OSError, subprocess.TimeoutExpired):
            return None
        found = shutil.which("nginx") or (Path("/usr/sbin/nginx").exists() and "/usr/sbin/nginx") or None
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def nginx_binary() -> str:
    binary = _install_nginx()
    if binary is None:
        pytest.skip("nginx is not installed and `apt-get install -y nginx` failed; the router cannot be exercised")
    return binary


def free_port() -> int:
    """A loopback port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def _wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited with {process.returncode}")
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nginx did not listen on {port} within {timeout}s")


@dataclass
class Stub:
    """A stub upstream: its name and ``host:port`` address."""

    name: str
    address: str


class _EchoHandler(BaseHTTPRequestHandler):
    server: _EchoServer

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        payload = json.dumps(
            {
                "upstream": self.server.stub_name,
                "path": self.path,
                "headers": {key.lower(): value for key, value in self.headers.items()},
                "body": body,
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer  # noqa: N815 - http.server dispatches on these names

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's signature
        pass  # keep pytest's output clean


class _EchoServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, name: str) -> None:
        super().__init__((LOOPBACK, 0), _EchoHandler)
        self.stub_name = name


@pytest.fixture
def stubs() -> Iterator[Callable[[str], Stub]]:
    """Start named stub upstreams on demand; all are shut down after the test."""
    servers: list[_EchoServer] = []

    def start(name: str) -> Stub:
        server = _EchoServer(name)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return Stub(name=name, address=f"{LOOPBACK}:{server.server_address[1]}")

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@dataclass
class Nginx:
    """A running nginx: the port it listens on and its captured log files."""

    port: int
    directory: Path

    def request(self, headers: dict[str, str] | None = None, path: str = "/orders?id=7") -> tuple[int, Any]:
        """GET ``path`` with exactly ``headers``; the status and the JSON (or text) body."""
        connection = http.client.HTTPConnection(LOOPBACK, self.port, timeout=REQUEST_TIMEOUT)
        try:
            connection.request("GET", path, headers=headers or {})
            response = connection.getresponse()
            body = response.read().decode()
        finally:
            connection.close()
        try:
            return response.status, json.loads(body)
        except ValueError:
            return response.status, body

    def access_log(self, lines: int, timeout: float = 2.0) -> list[str]:
        """The access log once it holds ``lines`` lines (nginx logs a request after answering it)."""
        deadline = time.monotonic() + timeout
        while True:
            found = (self.directory / "stdout.log").read_text().splitlines()
            if len(found) >= lines or time.monotonic() > deadline:
                return found
            time.sleep(0.02)


@pytest.fixture
def run_nginx(nginx_binary: str, tmp_path: Path) -> Iterator[Callable[[str, int], Nginx]]:
    """Start nginx on a configuration text (whose listener is ``port``); stopped at teardown."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(config: str, port: int) -> Nginx:
        directory = tmp_path / f"nginx-{len(processes)}"
        (directory / "logs").mkdir(parents=True)
        conf = directory / "nginx.conf"
        conf.write_text(config)
        stdout = (directory / "stdout.log").open("wb")
        stderr = (directory / "stderr.log").open("wb")
        process = subprocess.Popen(
            [nginx_binary, "-p", f"{directory}/", "-c", str(conf), "-g", "daemon off;"],
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
        )
        stdout.close()
        stderr.close()
        processes.append(process)
        try:
            _wait_listening(port, process, START_TIMEOUT)
        except RuntimeError as exc:
            raise AssertionError(f"{exc}: {(directory / 'stderr.log').read_text()}") from None
        return Nginx(port=port, directory=directory)

    yield start
    for process in processes:
        # SIGTERM is nginx's fast shutdown; the master takes its worker down with it.
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
