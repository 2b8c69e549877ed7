"""kubectl as a second, independent client against kubesim: Debian's 1.20 and the one on PATH.

kubectl 1.20 (Debian's ``kubernetes-client``) is the version the issue requires. It cannot be
installed next to the machine's newer ``/usr/bin/kubectl`` (both packages own that path), so the
session fixture downloads the .deb with ``apt-get download`` and unpacks it with ``dpkg -x`` into
``var/cache/kubectl-1.20/`` (gitignored, reused by later runs).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from microstax.kubesim import KubeSim

from .helpers import deployment

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / "var" / "cache" / "kubectl-1.20"

Run = Callable[..., subprocess.CompletedProcess[str]]


@dataclass(frozen=True)
class Kubectl:
    path: str
    minor: int


def _minor(path: str) -> int:
    out = subprocess.run([path, "version", "--client"], capture_output=True, text=True, timeout=30).stdout
    match = re.search(r'Minor:"(\d+)|v1\.(\d+)\.', out)
    if match is None:
        raise RuntimeError(f"cannot read the version of {path}: {out!r}")
    return int(match.group(1) or match.group(2))


def _apt(*args: str, cwd: Path) -> None:
    subprocess.run(["apt-get", *args], cwd=cwd, check=True, capture_output=True, text=True, timeout=600)


def _download_kubectl_120() -> Path:
    """Unpack Debian's kubernetes-client into the cache (without installing it); its kubectl."""
    binary = CACHE / "usr" / "bin" / "kubectl"
    if binary.exists():
        return binary
    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        pytest.skip("kubectl 1.20 is not cached and this machine has no apt-get/dpkg to fetch kubernetes-client")
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE.parent) as tmp:
        work = Path(tmp)
        try:
            try:
                _apt("download", "kubernetes-client", cwd=work)
            except subprocess.CalledProcessError:
                _apt("update", cwd=work)  # an empty or stale package list
                _apt("download", "kubernetes-client", cwd=work)
            deb = next(work.glob("kubernetes-client_*.deb"))
            subprocess.run(["dpkg", "-x", str(deb), str(work / "root")], check=True, capture_output=True, timeout=120)
        except (OSError, StopIteration, subprocess.SubprocessError) as exc:
            detail = getattr(exc, "stderr", "") or exc
            pytest.skip(f"could not fetch Debian's kubernetes-client with apt-get download: {detail}")
        if not CACHE.exists():
            (work / "root").rename(CACHE)  # atomic: a concurrent run sees all of it or nothing
    return binary


@pytest.fixture(scope="session")
def kubectl_120() -> Kubectl:
    binary = str(_download_kubectl_120())
    minor = _minor(binary)
    assert minor == 20, f"{binary} is kubectl 1.{minor}, expected Debian's 1.20"
    return Kubectl(binary, minor)


@pytest.fixture(scope="session")
def kubectl_path() -> Kubectl:
    path = shutil.which("kubectl")
    if path is None:
        pytest.skip("no kubectl on PATH")
    return Kubectl(path, _minor(path))


@pytest.fixture(params=["1.20", "path"])
def kubectl(request: pytest.FixtureRequest) -> Kubectl:
    return request.getfixturevalue("kubectl_120" if request.param == "1.20" else "kubectl_path")


def _runner(kubectl: Kubectl, kubesim: KubeSim, tmp_path: Path) -> Run:
    config = tmp_path / "kubeconfig"
    kubesim.kubeconfig(config)
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)

    def run(*args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "KUBECACHEDIR": str(tmp_path / "cache")}
        proc = subprocess.run(
            [kubectl.path, "--kubeconfig", str(config), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl 1.{kubectl.minor} {' '.join(args)} failed: {proc.stderr}")
        return proc

    return run


@pytest.fixture
def run(kubectl: Kubectl, kubesim: KubeSim, tmp_path: Path) -> Run:
    return _runner(kubectl, kubesim, tmp_path)


def _namespace(run: Run, name: str = "env-k") -> None:
    ns = json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    assert f"namespace/{name} serverside-applied" in run("apply", "--server-side", "-f", "-", stdin=ns).stdout


def test_kubectl_get_apply_logs_delete(run: Run, kubesim: KubeSim) -> None:
    assert "default" in run("get", "namespaces", "-o", "name").stdout
    _namespace(run)
    manifest = json.dumps(deployment("web"))
    out = run("apply", "--server-side", "--field-manager=microstax", "-n", "env-k", "-f", "-", stdin=manifest)
    assert "deployment.apps/web serverside-applied" in out.stdout
    apply = [r for r in kubesim.recorder.filter(verb="patch", resource="deployments") if r.status == 201][0]
    assert apply.field_manager == "microstax" and apply.is_apply
    run("rollout", "status", "deployment/web", "-n", "env-k", "--timeout=30s")
    table = run("get", "deploy", "web", "-n", "env-k").stdout
    assert table.split()[:6] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "web"]
    assert table.split()[6:9] == ["1/1", "1", "1"]
    pod = json.loads(run("get", "pods", "-n", "env-k", "-o", "json").stdout)["items"][0]["metadata"]["name"]
    assert "web: starting up" in run("logs", pod, "-n", "env-k").stdout
    assert 'deployment.apps "web" deleted' in run("delete", "deployment", "web", "-n", "env-k").stdout
    missing = run("get", "deployment", "web", "-n", "env-k", check=False)
    assert missing.returncode != 0 and "NotFound" in missing.stderr
    out = run("delete", "namespace", "env-k")
    assert 'namespace "env-k" deleted' in out.stdout


def test_kubectl_server_side_apply_uses_the_kubectl_field_manager(run: Run, kubesim: KubeSim) -> None:
    _namespace(run)
    run("apply", "--server-side", "-n", "env-k", "-f", "-", stdin=json.dumps(deployment("web")))
    managers = {
        e["manager"]: e["operation"] for e in kubesim.get("deployments", "env-k", "web")["metadata"]["managedFields"]
    }
    assert managers["kubectl"] == "Apply"
    # A second applier that changes replicas conflicts with kubectl's ownership until it forces.
    changed = json.dumps(deployment("web", replicas=3))
    refused = run(
        "apply", "--server-side", "--field-manager=other", "-n", "env-k", "-f", "-", stdin=changed, check=False
    )
    assert refused.returncode != 0 and 'conflict with "kubectl"' in refused.stderr
    forced = ["apply", "--server-side", "--field-manager=other", "--force-conflicts", "-n", "env-k", "-f", "-"]
    run(*forced, stdin=changed)
    assert kubesim.get("deployments", "env-k", "web")["spec"]["replicas"] == 3


def test_kubectl_delete_propagation(run: Run, kubesim: KubeSim) -> None:
    _namespace(run)
    for name in ("fg", "orphan"):
        run("apply", "--server-side", "-n", "env-k", "-f", "-", stdin=json.dumps(deployment(name)))
        run("rollout", "status", f"deployment/{name}", "-n", "env-k", "--timeout=30s")
    run("delete", "deployment", "fg", "-n", "env-k", "--cascade=foreground")
    run("delete", "deployment", "orphan", "-n", "env-k", "--cascade=orphan")
    deletes = kubesim.recorder.filter(verb="delete", resource="deployments")
    assert [r.status for r in deletes] == [200, 200]
    assert kubesim.wait_idle()
    left = {rs["metadata"]["name"].rsplit("-", 1)[0]: rs for rs in kubesim.list("replicasets", "env-k")}
    assert set(left) == {"orphan"}
    assert not left["orphan"]["metadata"].get("ownerReferences")


def test_kubectl_client_side_apply_and_create(run: Run, kubesim: KubeSim) -> None:
    _namespace(run)
    run("apply", "-n", "env-k", "-f", "-", stdin=json.dumps(deployment("cs")))
    run("apply", "-n", "env-k", "-f", "-", stdin=json.dumps(deployment("cs", replicas=2)))
    patch = kubesim.recorder.filter(verb="patch", resource="deployments")[-1]
    assert patch.content_type.startswith("application/strategic-merge-patch+json")
    assert patch.field_manager == "kubectl-client-side-apply"
    assert kubesim.get("deployments", "env-k", "cs")["spec"]["replicas"] == 2
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}}
    assert "configmap/c created" in run("create", "-n", "env-k", "-f", "-", stdin=json.dumps(cm)).stdout


def test_kubectl_typed_create_is_json_in_1_20_and_protobuf_later(run: Run, kubectl: Kubectl) -> None:
    # `kubectl create namespace` builds a typed object: 1.20 sends JSON, newer clients protobuf,
    # which kubesim refuses with 415 (it speaks JSON only).
    out = run("create", "namespace", "env-typed", check=False)
    if kubectl.minor <= 20:
        assert out.returncode == 0 and "namespace/env-typed created" in out.stdout
    else:
        assert out.returncode != 0 and "UnsupportedMediaType" in out.stderr


def test_kubectl_1_20_validates_against_openapi_v2_before_sending(
    kubectl_120: Kubectl, kubesim: KubeSim, tmp_path: Path
) -> None:
    run = _runner(kubectl_120, kubesim, tmp_path)
    _namespace(run)
    typo = deployment("web")
    typo["spec"]["replcas"] = 2
    out = run("apply", "--server-side", "-n", "env-k", "-f", "-", stdin=json.dumps(typo), check=False)
    assert out.returncode != 0
    assert 'unknown field "replcas" in io.k8s.api.apps.v1.DeploymentSpec' in out.stderr
    wrong = deployment("web", replicas="two")  # type: ignore[arg-type]
    out = run("apply", "--server-side", "-n", "env-k", "-f", "-", stdin=json.dumps(wrong), check=False)
    assert 'got "string", expected "integer"' in out.stderr
    assert not kubesim.recorder.filter(resource="deployments"), "refused client-side, before any request"
    pb = kubesim.recorder.filter(method="GET")
    assert any(r.path == "/openapi/v2" and r.status == 200 for r in pb)
    explained = run("explain", "deployment.spec.replicas").stdout
    assert "FIELD:    replicas <integer>" in explained
