from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor


def pending_migrations(alias: str = DEFAULT_DB_ALIAS) -> list[str]:
    """``app.name`` of every migration not applied yet on ``alias``."""
    connection = connections[alias]
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, backwards in plan if not backwards]


class Command(BaseCommand):
    help = (
        "Wait until the database has every migration this code knows (applied by the migrations Job); "
        "the init container of the web and worker pods. Exits 1 after --timeout seconds."
    )

    def add_arguments(self, parser):
        parser.add_argument("--timeout", type=float, default=900.0)
        parser.add_argument("--interval", type=float, default=3.0)
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)

    def handle(self, *args, **opts):
        deadline = time.monotonic() + opts["timeout"]
        last = None
        while True:
            try:
                pending = pending_migrations(opts["database"])
            except DatabaseError as exc:
                # Not reachable yet (the database starting, a network policy settling): keep waiting.
                state = f"database not reachable: {type(exc).__name__}"
            else:
                if not pending:
                    self.stdout.write("migrations: all applied")
                    return
                state = f"{len(pending)} migration(s) pending, first {pending[0]}"
            finally:
                connections[opts["database"]].close()
            if state != last:
                self.stdout.write(f"waiting: {state}")
                last = state
            if time.monotonic() >= deadline:
                raise CommandError(f"gave up after {opts['timeout']:.0f}s: {state}")
            time.sleep(opts["interval"])
