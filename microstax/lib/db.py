"""PostgreSQL connection pooling that survives the django-q2 workers' fork.

Under ASGI every request runs its view on a fresh thread, so Django's persistent connections
(``CONN_MAX_AGE``) are never reused there: each request would connect anew (about 30 ms of
client and server CPU on PostgreSQL). Django's psycopg pool hands a request an open connection
instead and takes it back when the request ends.

The pools live on the backend class, so a process forked after using one (django-q2 forks its
workers from the sentinel) inherits pools whose connections share their sockets with the parent.
The child forgets them and opens its own; the inherited objects are kept referenced rather than
closed, because closing them would end the parent's sessions (psycopg itself never finishes a
connection from a process that did not open it).
"""

from __future__ import annotations

import os

_inherited: list[dict] = []


def _forget_inherited_pools() -> None:
    from django.db.backends.postgresql.base import DatabaseWrapper

    if DatabaseWrapper._connection_pools:
        _inherited.append(dict(DatabaseWrapper._connection_pools))
        DatabaseWrapper._connection_pools.clear()


os.register_at_fork(after_in_child=_forget_inherited_pools)


def pool_options(*, max_size: int, timeout: int) -> dict:
    """The ``OPTIONS["pool"]`` of a PostgreSQL database (importing this module installed the fork guard)."""
    # min_size 1: one connection stays open while idle; more are opened as concurrent requests need.
    return {"min_size": 1, "max_size": max_size, "timeout": timeout}
