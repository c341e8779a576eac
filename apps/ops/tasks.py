"""Platform jobs that span every tenant (not tenant_task: they act for no single organization)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from apps.ops.maintenance import maintain


@shared_task(name="vigil.maintain_partitions", ignore_result=True)
def maintain_partitions() -> dict[str, Any]:
    report = maintain()
    return {"created": len(report.created), "dropped": report.dropped, "deleted": report.deleted_rows}
