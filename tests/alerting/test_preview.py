"""The 24-hour preview puts each breach in its own window-long step, also hours ago and per endpoint."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.utils import timezone

from apps.alerting import preview
from apps.alerting.rules import clean_rule
from apps.tracing.rollups import compact_rollups
from tests.alerting.conftest import spans, store
from tests.conftest import Tenant


def test_a_breach_hours_ago_lands_in_its_own_step_per_operation(alice: Tenant) -> None:
    now = timezone.now()
    at = (now - timedelta(hours=3)).replace(minute=37, second=0, microsecond=0)  # not on an hour boundary
    at_ns = int(at.timestamp() * 1e9)
    store(alice, spans("checkout", [900.0] * 40, operation="POST /checkout", at_ns=at_ns, ago_s=0)
          + spans("checkout", [20.0] * 40, operation="GET /cart", at_ns=at_ns, ago_s=0))  # fmt: skip
    assert compact_rollups() > 0  # folded into the minute and coarser tables, as the beat job does
    rule = clean_rule({
        "queries": {"p95": {"source": "red", "measure": "p95", "service": "checkout", "window_seconds": 300}},
        "conditions": [{"query": "p95", "op": ">", "critical": 500}], "group_by": ["operation"], "no_data": "ok",
    }, organization_id=alice.organization.pk, project_id=alice.project.pk)  # fmt: skip
    found = preview.preview(rule, organization_id=alice.organization.pk, project_id=alice.project.pk, now=now)

    groups = {group["labels"]["operation"]: group for group in found["groups"]}
    assert set(groups) == {"POST /checkout", "GET /cart"}
    step_start = datetime.fromtimestamp(at.timestamp() // 300 * 300, tz=UTC)  # the 5-minute step holding 37'
    [fired] = groups["POST /checkout"]["fired"]
    assert fired["from"] == step_start
    assert fired["to"] == step_start + timedelta(minutes=5)  # no data in the next step: recovered (no_data ok)
    values = {point["time"]: point["values"]["p95"] for point in groups["POST /checkout"]["points"]}
    assert 850 <= values[step_start] <= 950
    assert groups["GET /cart"]["fired"] == []
    assert found["fire_count"] == 1
