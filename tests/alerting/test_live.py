"""Incident changes reach the organization's browsers over the live WebSocket topic, after the commit only."""

from __future__ import annotations

from typing import Any

from apps.alerting import incidents
from apps.core.scoping import tenant_scope
from tests.conftest import Tenant
from tests.live.test_arrivals import listen  # noqa: F401 (fixture)
from tests.support import _incident


def test_acknowledging_an_incident_is_pushed_to_its_organization_after_the_commit(
    alice: Tenant,
    listen: Any,  # noqa: F811 (the imported fixture)
    django_capture_on_commit_callbacks: Any,
) -> None:
    """(Groups are per organization by construction, ``organization_group``; tests/test_isolation_websocket.py
    shows a member of another organization cannot join them.)"""
    alice_receives = listen(alice.organization.pk, "incidents")
    with tenant_scope(alice.organization.pk):
        incident = _incident(alice, alice.owner)
        with django_capture_on_commit_callbacks(execute=False) as pending:
            incidents.acknowledge(incident, actor=alice.owner)
        assert alice_receives(0.5) is None  # nothing before the commit
        for callback in pending:
            callback()
    message = alice_receives()
    assert message is not None
    assert message["topic"] == "incidents"
    assert message["payload"] == {"incident": incident.pk, "status": "acknowledged"}
