"""The microstax CLI without a MicroStax server: validate, import, schema, and the HTTP client."""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from microstax.cli.client import ApiError, GraphQLClient
from microstax.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "tests" / "blueprints" / "examples"

INVALID = """\
name: shop
services:
  - name: api
    image: ghcr.io/example/api:1.0.0
    dependsOn: [dbb]
  - name: db
    ports: ['70000']
"""

COMPOSE = """\
services:
  web:
    image: nginx:1.27
    ports: ["8080:80"]
    networks: [front]
"""


@pytest.fixture(autouse=True)
def no_api_environment(monkeypatch):
    monkeypatch.delenv("MICROSTAX_API_URL", raising=False)
    monkeypatch.delenv("MICROSTAX_API_KEY", raising=False)


@pytest.fixture
def write(tmp_path):
    def write(name: str, text: str) -> str:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return str(path)

    return write


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --- env validate -------------------------------------------------------------------------------
@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_env_validate_accepts_every_documented_example(capsys, path):
    code, out, err = run(capsys, "env", "validate", "--file", str(path))
    assert code == 0, out + err
    assert out.strip().splitlines()[-1].startswith(f"{path}: valid")
    assert err == ""


def test_env_validate_prints_each_problem_with_file_line_and_column(capsys, write):
    path = write("bad.yaml", INVALID)
    code, out, _ = run(capsys, "env", "validate", "--file", path)
    assert code == 1
    lines = out.strip().splitlines()
    assert f"{path}:5:17: MSX-E018 " in out
    assert any(line.startswith(f"{path}:7:13: MSX-E015 ") for line in lines)
    assert any(line.startswith(f"{path}:6:5: MSX-E013 ") for line in lines)
    assert lines[-1] == f"{path}: invalid (3 errors)"


def test_env_validate_json_output_has_valid_problems_and_hash(capsys, write):
    code, out, _ = run(capsys, "--output", "json", "env", "validate", "--file", write("bad.yaml", INVALID))
    data = json.loads(out)
    assert code == 1
    assert set(data) == {"valid", "problems", "hash"}
    assert data["valid"] is False and data["hash"] is None
    assert {p["code"] for p in data["problems"]} == {"MSX-E018", "MSX-E015", "MSX-E013"}


def test_env_validate_yaml_output_and_options_after_the_command(capsys):
    code, out, _ = run(capsys, "env", "validate", "--file", str(EXAMPLES / "payments-dev.yaml"), "-o", "yaml")
    data = yaml.safe_load(out)
    assert code == 0
    assert data["valid"] is True and len(data["hash"]) == 64


def test_env_validate_applies_a_plan(capsys, write):
    text = (
        EXAMPLES / "payments-dev.yaml"
    ).read_text() + "plans:\n  production:\n    services:\n      db: {replicas: 3}\n"
    path = write("planned.yaml", text)
    _, plain, _ = run(capsys, "-o", "json", "env", "validate", "--file", path)
    _, planned, _ = run(capsys, "-o", "json", "env", "validate", "--file", path, "--plan", "production")
    assert json.loads(plain)["hash"] != json.loads(planned)["hash"]
    code, out, _ = run(capsys, "env", "validate", "--file", path, "--plan", "staging")
    assert code == 1 and "MSX-E023" in out


def test_env_validate_with_a_base_treats_the_file_as_an_overlay(capsys, write):
    path = write("overlay.yaml", "name: feat\nservices:\n  api: {image: 'a/api:2', dependsOn: [db]}\n")
    assert run(capsys, "env", "validate", "--file", path)[0] == 1
    assert run(capsys, "env", "validate", "--file", path, "--base", "env_base_1")[0] == 0


def test_env_validate_reads_standard_input(capsys, monkeypatch):
    stdin = io.TextIOWrapper(io.BytesIO((EXAMPLES / "shop-baseline.yaml").read_bytes()))
    monkeypatch.setattr(sys, "stdin", stdin)
    code, out, _ = run(capsys, "env", "validate", "--file", "-")
    assert code == 0 and out.startswith("<stdin>: valid")


def test_a_missing_file_is_an_error_on_stderr(capsys, tmp_path):
    code, out, err = run(capsys, "env", "validate", "--file", str(tmp_path / "nope.yaml"))
    assert code == 1
    assert out == ""
    assert err.startswith("error: cannot read ") and "No such file" in err


def test_a_file_that_is_not_utf8_is_an_error(capsys, tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\xe9\n".encode("latin-1"))
    code, _, err = run(capsys, "env", "validate", "--file", str(path))
    assert code == 1 and "not UTF-8" in err


@pytest.mark.parametrize(
    "argv",
    [["env", "validate"], ["nonsense"], ["--output", "xml", "env", "validate", "--file", "x"], ["env"], []],
)
def test_usage_errors_exit_with_2(capsys, argv):
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert "usage:" in err


def test_help_exits_with_0(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "env" in out and "blueprint" in out and "auth" in out


# --- blueprint import and schema ----------------------------------------------------------------
def test_blueprint_import_prints_yaml_and_warns_on_stderr(capsys, write):
    path = write("compose.yaml", COMPOSE)
    code, out, err = run(capsys, "blueprint", "import", "--compose", path, "--name", "web-stack")
    assert code == 0
    blueprint = yaml.safe_load(out)
    assert blueprint["name"] == "web-stack"
    assert blueprint["services"][0]["ports"] == [{"containerPort": 80, "port": 8080}]
    assert f"{path}:5:5: MSX-L101 " in err and "'networks'" in err
    assert f"{path}:4:13: MSX-L102 " in err


def test_the_imported_blueprint_validates_with_env_validate(capsys, write):
    _, out, _ = run(capsys, "blueprint", "import", "--compose", write("compose.yaml", COMPOSE))
    assert run(capsys, "env", "validate", "--file", write("imported.yaml", out))[0] == 0


def test_blueprint_import_failure_exits_1_with_the_reason(capsys, write):
    code, out, err = run(capsys, "blueprint", "import", "--compose", write("c.yaml", "services:\n  web: {build: .}\n"))
    assert code == 1 and out == ""
    assert "MSX-E102" in err and "error:" in err


def test_blueprint_import_json_output(capsys, write):
    code, out, _ = run(capsys, "-o", "json", "blueprint", "import", "--compose", write("compose.yaml", COMPOSE))
    data = json.loads(out)
    assert code == 0 and data["ok"] is True
    assert data["blueprint"]["services"][0]["name"] == "web"
    assert {w["code"] for w in data["warnings"]} >= {"MSX-L101", "MSX-L102"}


def test_blueprint_schema_prints_the_json_schema(capsys):
    code, out, _ = run(capsys, "blueprint", "schema")
    schema = json.loads(out)
    assert code == 0
    assert schema["$schema"].endswith("2020-12/schema") and schema["title"] == "MicroStax Blueprint"
    code, out, _ = run(capsys, "blueprint", "schema", "-o", "yaml")
    assert yaml.safe_load(out)["$id"] == schema["$id"]


# --- the HTTP client and auth verify ------------------------------------------------------------
class FakeApi:
    """A loopback GraphQL endpoint that records requests and answers a canned response."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.status = 200
        self.response: object = {"data": {"viewer": {"username": "ada"}}}
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server naming
                length = int(self.headers.get("Content-Length", 0))
                api.requests.append(
                    {
                        "path": self.path,
                        "authorization": self.headers.get("Authorization"),
                        "content_type": self.headers.get("Content-Type"),
                        "body": json.loads(self.rfile.read(length)),
                    }
                )
                raw = api.response if isinstance(api.response, bytes) else json.dumps(api.response).encode()
                self.send_response(api.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def fake_api() -> Iterator[FakeApi]:
    api = FakeApi()
    thread = threading.Thread(target=api.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield api
    api.server.shutdown()
    api.server.server_close()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_auth_verify_posts_the_viewer_query_with_the_bearer_key(capsys, fake_api):
    code, out, _ = run(capsys, "--api-url", fake_api.url, "--api-key", "msx_secret", "auth", "verify")
    assert code == 0
    assert fake_api.url in out and "ada" in out
    request = fake_api.requests[0]
    assert request["path"] == "/graphql"
    assert request["authorization"] == "Bearer msx_secret"
    assert request["content_type"] == "application/json"
    assert "viewer" in request["body"]["query"] and "username" in request["body"]["query"]


def test_api_url_and_key_come_from_the_environment(capsys, fake_api, monkeypatch):
    monkeypatch.setenv("MICROSTAX_API_URL", fake_api.url + "/")
    monkeypatch.setenv("MICROSTAX_API_KEY", "msx_env")
    code, out, _ = run(capsys, "-o", "json", "auth", "verify")
    assert code == 0
    assert json.loads(out) == {"apiUrl": fake_api.url + "/", "username": "ada"}
    assert fake_api.requests[0]["authorization"] == "Bearer msx_env"
    assert fake_api.requests[0]["path"] == "/graphql"


def test_graphql_errors_become_a_cli_error_with_their_messages(capsys, fake_api):
    fake_api.response = {
        "data": None,
        "errors": [{"message": "token revoked", "extensions": {"code": "UNAUTHENTICATED"}}],
    }
    code, out, err = run(capsys, "--api-url", fake_api.url, "auth", "verify")
    assert code == 1 and out == ""
    assert err == "error: token revoked (UNAUTHENTICATED)\n"


def test_an_anonymous_viewer_is_not_signed_in(capsys, fake_api):
    fake_api.response = {"data": {"viewer": None}}
    code, _, err = run(capsys, "--api-url", fake_api.url, "auth", "verify")
    assert code == 1 and "not signed in" in err and "MICROSTAX_API_KEY" in err


def test_connection_refused_names_the_url(capsys):
    url = closed_port_url()
    code, _, err = run(capsys, "--api-url", url, "auth", "verify")
    assert code == 1
    assert err.startswith(f"error: could not connect to the MicroStax API at {url}: connection refused")
    assert "Traceback" not in err


def test_an_http_error_without_json_is_explained(fake_api):
    fake_api.status = 502
    fake_api.response = b"<html>bad gateway</html>"
    with pytest.raises(ApiError, match="HTTP 502 with something that is not JSON"):
        GraphQLClient(fake_api.url).execute("{ viewer { username } }")


def test_variables_are_sent_with_the_query(fake_api):
    fake_api.response = {"data": {"ok": True}}
    assert GraphQLClient(fake_api.url, "msx_k").execute("query Q($a: Int) { ok }", {"a": 1}) == {"ok": True}
    assert fake_api.requests[0]["body"] == {"query": "query Q($a: Int) { ok }", "variables": {"a": 1}}


@pytest.mark.parametrize("url", ["ftp://example.com", "not a url", "file:///etc/passwd"])
def test_only_http_api_urls_are_accepted(capsys, url):
    code, _, err = run(capsys, "--api-url", url, "auth", "verify")
    assert code == 1 and "invalid API URL" in err


# --- as a real process --------------------------------------------------------------------------
def test_the_installed_command_runs_as_a_process(tmp_path):
    script = ROOT / ".venv" / "bin" / "microstax"
    found = shutil.which("microstax")
    if script.exists():
        command = [str(script)]
    elif found and Path(found).resolve().parent == Path(sys.executable).resolve().parent:
        command = [found]
    else:
        command = [sys.executable, "-m", "microstax.cli.main"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(INVALID, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MICROSTAX_")}
    env["PYTHONPATH"] = str(ROOT)
    good = subprocess.run(
        [*command, "env", "validate", "--file", str(EXAMPLES / "payments-dev.yaml")],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=60,
    )  # fmt: skip
    assert good.returncode == 0, good.stderr
    assert "valid" in good.stdout
    failed = subprocess.run(
        [*command, "env", "validate", "--file", str(bad)], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60
    )
    assert failed.returncode == 1
    assert f"{bad}:5:17: MSX-E018" in failed.stdout
    usage = subprocess.run([*command, "env"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert usage.returncode == 2 and "Traceback" not in usage.stderr
