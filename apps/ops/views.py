"""``/healthz``, ``/readyz`` and ``/metrics``."""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from apps.core.request_stats import REQUEST_STATS
from apps.ops import queries
from apps.ops.health import readiness


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is alive and serving; checks nothing else, so it never flaps with a dependency."""
    return JsonResponse({"status": "ok"})


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks = readiness()
    ready = all(check.ok for check in checks if check.essential)
    body = {
        "status": "ready" if ready else "not ready",
        "checks": {c.name: {"ok": c.ok, "detail": c.detail, "essential": c.essential} for c in checks},
    }
    return JsonResponse(body, status=200 if ready else 503)


def _allowed(request: HttpRequest) -> bool:
    token = settings.VIGIL_METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(header.encode(), f"Bearer {token}".encode()):
        return True
    if not settings.VIGIL_METRICS_ALLOW_LOOPBACK:
        return False
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format; loopback clients or ``Authorization: Bearer $VIGIL_METRICS_TOKEN`` only."""
    if not _allowed(request):
        return HttpResponse(
            "Metrics are served to loopback clients or with 'Authorization: Bearer <VIGIL_METRICS_TOKEN>'.\n",
            status=403,
            content_type="text/plain",
        )
    lines = REQUEST_STATS.render()
    lines += [
        "# HELP vigil_celery_queue_depth Messages waiting in the Celery queue.",
        "# TYPE vigil_celery_queue_depth gauge",
    ]
    try:
        lines.append(f'vigil_celery_queue_depth{{queue="celery"}} {queries.celery_queue_depth()}')
    except Exception:  # Redis down: report the gap, keep the rest of the scrape
        lines.append("# vigil_celery_queue_depth unavailable: Redis unreachable")
    lines += [
        "# HELP vigil_db_connections Connections to Vigil's database by state.",
        "# TYPE vigil_db_connections gauge",
    ]
    try:
        for state, count in sorted(queries.database_connections().items()):
            lines.append(f'vigil_db_connections{{state="{state}"}} {count}')
    except Exception:  # database down: same
        lines.append("# vigil_db_connections unavailable: PostgreSQL unreachable")
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain; version=0.0.4; charset=utf-8")
