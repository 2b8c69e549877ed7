"""django-q2 entry points: thin. They take ids, and the provisioner re-reads everything."""

from __future__ import annotations

from django.conf import settings
from django_q.tasks import async_task


def enqueue_operation(operation_id: int) -> None:
    async_task(
        "environments.tasks.run_operation",
        operation_id,
        task_name=f"operation-{operation_id}",
        group="environments",
        timeout=settings.Q_CLUSTER["timeout"],
    )


def run_operation(operation_id: int) -> str:
    from environments.provisioning import run_operation as run

    return run(operation_id)
