"""A log of every request kubesim answered, for tests to assert the calls a client made."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})


@dataclass
class RecordedRequest:
    method: str
    path: str
    verb: str
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    query: dict[str, str] = field(default_factory=dict)
    content_type: str = ""
    user_agent: str = ""
    status: int = 0  # set just before the response is written, so it is there when the client sees it

    @property
    def field_manager(self) -> str | None:
        return self.query.get("fieldManager")

    @property
    def dry_run(self) -> bool:
        return self.query.get("dryRun") == "All"

    @property
    def force(self) -> bool:
        return self.query.get("force", "").lower() in ("1", "t", "true")

    @property
    def is_apply(self) -> bool:
        return self.content_type.startswith("application/apply-patch")

    @property
    def is_write(self) -> bool:
        """A mutating call that was not a dry run (whatever its outcome)."""
        return self.verb in WRITE_VERBS and not self.dry_run


class Recorder:
    """Thread-safe, append-only list of ``RecordedRequest``; ``clear()`` between phases of a test."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[RecordedRequest] = []

    def record(self, req: RecordedRequest) -> None:
        with self._lock:
            self._items.append(req)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._items)

    def __iter__(self) -> Iterator[RecordedRequest]:
        return iter(self.requests)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def filter(
        self,
        *,
        verb: str | None = None,
        resource: str | None = None,
        method: str | None = None,
        namespace: str | None = None,
        name: str | None = None,
        subresource: str | None = None,
    ) -> list[RecordedRequest]:
        return [
            r
            for r in self.requests
            if (verb is None or r.verb == verb)
            and (resource is None or r.resource == resource)
            and (method is None or r.method == method)
            and (namespace is None or r.namespace == namespace)
            and (name is None or r.name == name)
            and (subresource is None or r.subresource == subresource)
        ]

    def writes(self, resource: str | None = None) -> list[RecordedRequest]:
        """Mutating, non-dry-run calls (optionally of one resource)."""
        return [r for r in self.requests if r.is_write and (resource is None or r.resource == resource)]

    def count(self, **kwargs: str) -> int:
        return len(self.filter(**kwargs))  # type: ignore[arg-type]
