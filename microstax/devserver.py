"""`make run`: migrate, start the kubesim sandbox cluster, bootstrap the demo (admin, team, token,
sandbox cluster), then run the web server and a task worker.

Ctrl-C (or SIGTERM) stops every process this started. The web server is Django's runserver in its
ASGI flavour (daphne), so GraphQL subscriptions work and static files are served.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HOST = os.environ.get("MICROSTAX_HOST", "127.0.0.1")
PORT = os.environ.get("MICROSTAX_PORT", "8000")
KUBESIM_PORT = os.environ.get("MICROSTAX_KUBESIM_PORT", "6443")


def _manage(*args: str) -> list[str]:
    return [sys.executable, "manage.py", *args]


class Processes:
    """The children started so far, stopped together."""

    def __init__(self) -> None:
        self.children: list[subprocess.Popen] = []

    def start(self, *args: str) -> subprocess.Popen:
        # Each child leads its own process group, so stopping it also stops what it forked
        # (django-q's worker processes) instead of orphaning them.
        child = subprocess.Popen(_manage(*args), start_new_session=True)
        self.children.append(child)
        return child

    def any_exited(self) -> bool:
        return any(child.poll() is not None for child in self.children)

    def stop(self) -> None:
        for child in self.children:
            self._signal(child, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for child in self.children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            self._signal(child, signal.SIGKILL)  # whatever of the group is still there

    @staticmethod
    def _signal(child: subprocess.Popen, sig: int) -> None:
        try:
            os.killpg(child.pid, sig)
        except ProcessLookupError:
            pass


def _wait_for(path: Path, child: subprocess.Popen, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if child.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def main() -> int:
    os.environ.setdefault("DEBUG", "true")
    url = f"http://{HOST}:{PORT}"
    var = Path(os.environ.get("MICROSTAX_VAR_DIR", "var"))
    var.mkdir(parents=True, exist_ok=True)
    kubeconfig = var / "kubesim.kubeconfig"
    kubeconfig.unlink(missing_ok=True)
    subprocess.run(_manage("migrate", "--no-input", "-v", "0"), check=True)

    processes = Processes()
    signal.signal(signal.SIGTERM, lambda *_: (processes.stop(), sys.exit(0)))
    try:
        # The sandbox cluster: kubesim on loopback, its state kept across restarts.
        kubesim = processes.start(
            "kubesim",
            "--port",
            KUBESIM_PORT,
            "--state",
            str(var / "kubesim-state.json"),
            "--kubeconfig-out",
            str(kubeconfig),
        )
        if not _wait_for(kubeconfig, kubesim, 30):
            print(f"kubesim did not start; is port {KUBESIM_PORT} free? (set MICROSTAX_KUBESIM_PORT)", file=sys.stderr)
            return 1
        subprocess.run(
            _manage("bootstrap_demo", "--url", url, "--sandbox-kubeconfig", str(kubeconfig), "--demo-environment"),
            check=True,
        )
        processes.start("runserver", f"{HOST}:{PORT}", "--noreload")
        processes.start("qcluster")
        print(f"MicroStax running at {url}/ — press Ctrl-C to stop.", flush=True)
        while not processes.any_exited():
            time.sleep(0.5)
        print("a MicroStax process exited; stopping the others", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    except subprocess.CalledProcessError as exc:
        print(f"set-up step failed: {' '.join(exc.cmd[1:])}", file=sys.stderr)
        return 1
    finally:
        processes.stop()


if __name__ == "__main__":
    sys.exit(main())
