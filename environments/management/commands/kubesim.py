"""``manage.py kubesim``: run the Kubernetes API emulator standalone until Ctrl-C."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from microstax.kubesim import Delays, KubeSim


class Command(BaseCommand):
    help = "Run kubesim, the in-process Kubernetes API emulator, in the foreground (loopback by default)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--port", type=int, default=6443, help="TCP port (0 picks a free one). Default 6443.")
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on. Default 127.0.0.1.")
        parser.add_argument("--state", metavar="FILE", help="Load state from FILE on start and save it on changes.")
        parser.add_argument("--kubeconfig-out", metavar="FILE", help="Write a kubeconfig for the server to FILE.")
        parser.add_argument(
            "--time-factor",
            type=float,
            default=1.0,
            help="Multiply simulated durations (back-offs, deadlines, delays). Default 1.",
        )
        parser.add_argument("--instant", action="store_true", help="Zero controller delays, as in tests.")

    def handle(self, *args: Any, **options: Any) -> None:
        delays = Delays(time_factor=options["time_factor"]) if options["instant"] else Delays.realistic()
        delays.time_factor = options["time_factor"]
        sim = KubeSim(delays=delays, state_file=options["state"])
        try:
            sim.start(host=options["host"], port=options["port"])
        except OSError as exc:
            raise CommandError(f"cannot listen on {options['host']}:{options['port']}: {exc}") from exc
        if options["kubeconfig_out"]:
            sim.kubeconfig(options["kubeconfig_out"])
            self.stdout.write(f"kubeconfig written to {options['kubeconfig_out']}")
        self.stdout.write(f"kubesim listening on {sim.url} (Kubernetes {sim.config.git_version}); Ctrl-C to stop")
        self.stdout.flush()
        done = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: done.set())
        try:
            while not done.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            sim.stop()
            self.stdout.write("kubesim stopped")
