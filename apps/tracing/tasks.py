from celery import shared_task

from apps.tracing.maintenance import resolve_pending_edges


@shared_task(name="vigil.resolve_pending_edges", ignore_result=True)
def resolve_pending_edges_task() -> tuple[int, int]:
    """Across tenants by design: the resolution joins rows of one tenant only, by its keys."""
    return resolve_pending_edges()
