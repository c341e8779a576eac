from dataclasses import asdict

from celery import shared_task

from apps.tracing.maintenance import resolve_pending_edges
from apps.tracing.rollups import compact_rollups
from apps.tracing.sampling import decide_traces


@shared_task(name="vigil.resolve_pending_edges", ignore_result=True)
def resolve_pending_edges_task() -> tuple[int, int]:
    """Across tenants by design: the resolution joins rows of one tenant only, by its keys."""
    return resolve_pending_edges()


@shared_task(name="vigil.compact_rollups", ignore_result=True)
def compact_rollups_task() -> int:
    """Across tenants by design: each delta row carries its tenant's keys and lands in that tenant's row."""
    return compact_rollups()


@shared_task(name="vigil.decide_sampling", ignore_result=True)
def decide_sampling_task() -> dict[str, int]:
    """Across tenants by design: each state row carries its tenant's keys; spans are deleted by those keys."""
    return asdict(decide_traces())
