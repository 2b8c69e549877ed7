"""kubectl as a second, independent client against kubesim."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from microstax.kubesim import KubeSim

from .helpers import deployment


@pytest.fixture(scope="session")
def kubectl() -> str:
    path = shutil.which("kubectl")
    if path is None:
        try:
            subprocess.run(["apt-get", "update"], check=True, capture_output=True, timeout=300)
            subprocess.run(
                ["apt-get", "install", "-y", "kubernetes-client"], check=True, capture_output=True, timeout=300
            )
        except (OSError, subprocess.SubprocessError) as exc:
            pytest.skip(f"kubectl is not installed and installing Debian's kubernetes-client failed: {exc}")
        path = shutil.which("kubectl")
        if path is None:
            pytest.skip("kubectl is still missing after installing kubernetes-client")
    return path


@pytest.fixture
def run(kubectl: str, kubesim: KubeSim, tmp_path: Path):  # noqa: ANN201
    config = tmp_path / "kubeconfig"
    kubesim.kubeconfig(config)
    home = tmp_path / "home"
    home.mkdir()

    def _run(*args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "KUBECACHEDIR": str(tmp_path / "cache")}
        proc = subprocess.run(
            [kubectl, "--kubeconfig", str(config), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {proc.stderr}")
        return proc

    return _run


def test_kubectl_get_apply_logs_delete(run, kubesim: KubeSim) -> None:  # noqa: ANN001
    assert "default" in run("get", "namespaces", "-o", "name").stdout
    # kubectl's typed "create namespace" sends protobuf, which kubesim refuses with 415; apply is JSON.
    refused = run("create", "namespace", "env-k", check=False)
    assert refused.returncode != 0 and "UnsupportedMediaType" in refused.stderr
    ns = json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "env-k"}})
    assert "namespace/env-k serverside-applied" in run("apply", "--server-side", "-f", "-", stdin=ns).stdout
    manifest = json.dumps(deployment("web"))
    out = run("apply", "--server-side", "--field-manager=microstax", "-n", "env-k", "-f", "-", stdin=manifest)
    assert "deployment.apps/web serverside-applied" in out.stdout
    apply = [r for r in kubesim.recorder.filter(verb="patch", resource="deployments") if r.status == 201][0]
    assert apply.field_manager == "microstax" and apply.is_apply
    run("rollout", "status", "deployment/web", "-n", "env-k", "--timeout=30s")
    table = run("get", "deploy", "web", "-n", "env-k").stdout
    assert table.split()[:6] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "web"]
    pod = json.loads(run("get", "pods", "-n", "env-k", "-o", "json").stdout)["items"][0]["metadata"]["name"]
    assert "web: starting up" in run("logs", pod, "-n", "env-k").stdout
    assert 'deployment.apps "web" deleted' in run("delete", "deployment", "web", "-n", "env-k").stdout
    missing = run("get", "deployment", "web", "-n", "env-k", check=False)
    assert missing.returncode != 0 and "NotFound" in missing.stderr
    out = run("delete", "namespace", "env-k")
    assert 'namespace "env-k" deleted' in out.stdout
