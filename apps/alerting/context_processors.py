"""The banner that says alert evaluation is behind (templates/alerting/_lag_banner.html).

Shown on an organization's pages to the people who manage its alerts when one of its rules is overdue by
more than ``VIGIL_ALERT_EVALUATION_LAG_LIMIT``. Lazy: its one indexed query runs only when a page draws it.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from apps.alerting.scheduling import evaluation_lag
from apps.tenants.roles import Scope


def alert_evaluation_lag(request: HttpRequest) -> dict[str, Any]:
    access = getattr(request, "tenant_access", None)
    if access is None or Scope.ALERTS_WRITE not in access.scopes:
        return {}

    def behind() -> int:
        lag = evaluation_lag(timezone.now(), access.organization_id)
        return int(lag) if lag > settings.VIGIL_ALERT_EVALUATION_LAG_LIMIT else 0

    return {"alert_evaluation_lag": SimpleLazyObject(behind)}
