"""Invalid rules are refused with a message naming the field, and nothing is written; valid ones round-trip."""

from __future__ import annotations

from typing import Any

import pytest

from apps.alerting.models import AlertRule
from apps.tenants.roles import Role
from tests.conftest import Tenant, session_client

LATENCY = {"source": "red", "measure": "p95", "service": "checkout", "window_seconds": 300}
VALID = {"name": "slow checkout", "queries": {"a": LATENCY}, "conditions": [{"query": "a", "op": ">", "critical": 500}]}


def post(tenant: Tenant, body: Any, user: Any = None) -> Any:
    client = session_client(user or tenant.owner)
    return client.post(f"/api/v1/orgs/{tenant.slug}/projects/{tenant.project.slug}/alert-rules/", body, format="json")


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"queries": {"a": {"source": "metric", "metric": "no.such.metric", "aggregation": "avg"}}},
         "queries.a.metric", "No metric named 'no.such.metric'"),
        ({"title_template": "{{ labels.hots }} is down"}, "title_template", "Unknown placeholder {{ labels.hots }}"),
        ({"message_template": "{{ values.a"}, "message_template", "malformed"),
        ({"conditions": [{"query": "a", "op": ">", "critical": "500ms"}]}, "conditions.0.critical", "A number"),
        ({"conditions": [{"query": "a", "op": ">", "critical": True}]}, "conditions.0.critical", "A number"),
        ({"conditions": []}, "conditions", "At least one condition"),
        ({"conditions": [{"query": "b", "op": ">", "critical": 1}]}, "conditions.0.query", "Name one of"),
        ({"conditions": [{"query": "a", "op": "=>", "critical": 1}]}, "conditions.0.op", "Use one of"),
        ({"conditions": [{"query": "a", "op": ">"}]}, "conditions.0.critical", "Give a critical threshold"),
        ({"queries": {}}, "queries", "At least one query"),
        ({"queries": {"A!": LATENCY}}, "queries.A!", "query name"),
        ({"queries": {"a": {**LATENCY, "measure": "p42"}}}, "queries.a.measure", "Use one of"),
        ({"queries": {"a": {**LATENCY, "window_seconds": 90}}}, "queries.a.window_seconds", "Whole minutes"),
        ({"queries": {"a": {**LATENCY, "service": None}}}, "queries.a.service", "Name a service"),
        ({"group_by": ["host"]}, "group_by", "cannot be grouped by 'host'"),
        ({"interval_seconds": 5}, "interval_seconds", "from 10"),
        ({"for_seconds": "5m"}, "for_seconds", "A whole number"),
        ({"no_data": "panic"}, "no_data", "Use one of"),
        ({"combine": "xor"}, "combine", '"and"'),
        ({"channels": [999999]}, "channels", "No channel 999999"),
        ({"name": ""}, "name", "Give the rule a name"),
        ({"name": "x" * 201}, "name", "at most 200"),
        ({"title_template": "t" * 301}, "title_template", "at most 300"),
        ({"runbook_url": "javascript:alert(1)"}, "runbook_url", "http:// or https://"),
        ({"muted_until": "tomorrow"}, "muted_until", "A time with its zone"),
        ({"enabled": "yes"}, "enabled", "true or false"),
    ],
)  # fmt: skip
def test_invalid_rules_name_the_field(alice: Tenant, change: dict[str, Any], field: str, words: str) -> None:
    response = post(alice, {**VALID, **change})
    assert response.status_code == 400, response.content
    details = response.json()["error"]["details"]
    assert field in details, details
    assert words in details[field][0], details[field]
    assert "Traceback" not in response.content.decode()
    assert not AlertRule.objects.for_organization(alice.organization.pk).exists()


def test_a_valid_rule_round_trips_and_a_viewer_may_not_write(alice: Tenant) -> None:
    response = post(alice, VALID)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["queries"] == {"a": {**LATENCY, "operation": None}}
    assert (body["combine"], body["interval_seconds"], body["no_data"], body["instances"]) == ("and", 30, "keep", [])
    assert post(alice, {**VALID, "name": "other"}, alice.members[Role.VIEWER]).status_code == 403
    duplicate = post(alice, VALID)
    assert duplicate.status_code == 400
    assert "already has a rule named" in duplicate.json()["error"]["details"]["name"][0]


def test_the_draft_preview_shows_when_it_would_have_fired(alice: Tenant) -> None:
    from tests.alerting.conftest import spans, store

    store(alice, spans("checkout", [900.0] * 50, ago_s=600))
    client = session_client(alice.owner)
    url = f"/api/v1/orgs/{alice.slug}/projects/{alice.project.slug}/alert-rules/preview/"
    response = client.post(url, VALID, format="json")
    assert response.status_code == 200, response.content
    found = response.json()
    assert found["fire_count"] == 1
    [group] = found["groups"]
    assert group["labels"] == {}
    assert group["fired"][0]["severity"] == "critical"
    assert client.post(url, {**VALID, "conditions": []}, format="json").status_code == 400
