"""Celery tasks of the outbox: thin, they take ids and call ``services``.

``send_delivery_task`` and ``send_digest_task`` run for one organization (``tenant_task``); the two beat
tasks look across organizations for work and queue those per-organization tasks.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from apps.core.tasks import tenant_task
from apps.notifications import services


@tenant_task(name="vigil.notifications.send_delivery", ignore_result=True)
def send_delivery_task(organization_id: int, delivery_id: int) -> None:
    services.send_delivery(delivery_id)


@tenant_task(name="vigil.notifications.send_digest", ignore_result=True)
def send_digest_task(organization_id: int, channel_id: int) -> int:
    return services.send_digest(channel_id)


@shared_task(name="vigil.notifications.recover_deliveries", ignore_result=True)
def recover_deliveries_task() -> dict[str, Any]:
    """Across tenants by design: each row found is sent by a task scoped to its own organization."""
    recovered = services.recover_deliveries()
    for organization_id, delivery_id in recovered.requeue:
        send_delivery_task.delay(organization_id, delivery_id)
    return {"abandoned": recovered.abandoned, "released": recovered.released, "requeued": len(recovered.requeue)}


@shared_task(name="vigil.notifications.send_digests", ignore_result=True)
def send_digests_task() -> int:
    """Across tenants by design: each due channel's digest is sent by a task scoped to its organization."""
    due = services.due_digests()
    for organization_id, channel_id in due:
        send_digest_task.delay(organization_id, channel_id)
    return len(due)
