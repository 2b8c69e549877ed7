"""`make run`: migrate, bootstrap the demo, then run the web server and a task worker together.

Ctrl-C (or SIGTERM) stops every process this started. The web server is Django's runserver in its
ASGI flavour (daphne), so GraphQL subscriptions work and static files are served.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

HOST = os.environ.get("MICROSTAX_HOST", "127.0.0.1")
PORT = os.environ.get("MICROSTAX_PORT", "8000")


def _manage(*args: str) -> list[str]:
    return [sys.executable, "manage.py", *args]


def main() -> int:
    os.environ.setdefault("DEBUG", "true")
    url = f"http://{HOST}:{PORT}"
    subprocess.run(_manage("migrate", "--no-input", "-v", "0"), check=True)
    subprocess.run(_manage("bootstrap_demo", "--url", url), check=True)

    children = [
        subprocess.Popen(_manage("runserver", f"{HOST}:{PORT}", "--noreload")),
        subprocess.Popen(_manage("qcluster")),
    ]

    def stop(*_: object) -> None:
        for child in children:
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + 10
        for child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()

    signal.signal(signal.SIGTERM, lambda *_: (stop(), sys.exit(0)))
    print(f"MicroStax running at {url}/ — press Ctrl-C to stop.", flush=True)
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        print("a MicroStax process exited; stopping the others", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stop()


if __name__ == "__main__":
    sys.exit(main())
