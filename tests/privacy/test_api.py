"""POST /api/v1/orgs/<org>/privacy/export/ and /delete/ (org:admin)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from apps.privacy import services
from apps.privacy.services import UserTelemetry
from apps.tenants.roles import Role
from tests.conftest import Tenant, session_client
from tests.privacy.data import seed

pytestmark = pytest.mark.django_db(transaction=True)


def post(tenant: Tenant, what: str, body: dict[str, Any], role: str = Role.OWNER) -> Any:
    client = session_client(tenant.members[role])
    return client.post(f"/api/v1/orgs/{tenant.slug}/privacy/{what}/", data=body, format="json")


def test_export_answers_json_lines(alice: Tenant, bob: Tenant) -> None:
    seed(alice)
    seed(bob)
    response = post(alice, "export", {"key": "enduser.id", "value": "u-1", "project": "app"})
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/x-ndjson"
    assert response["X-Vigil-Truncated"] == "false"
    lines = [json.loads(line) for line in response.content.decode().splitlines()]
    assert len(lines) == 18
    assert all(line["project"] == "app" for line in lines)


def test_export_is_capped(alice: Tenant, monkeypatch: Any) -> None:
    seed(alice)
    monkeypatch.setattr("apps.privacy.api.views.API_EXPORT_MAX_RECORDS", 4)
    response = post(alice, "export", {"key": "enduser.id", "value": "u-1"})
    assert response["X-Vigil-Truncated"] == "true"
    assert len(response.content.decode().splitlines()) == 4


def test_delete_answers_counts(alice: Tenant, bob: Tenant) -> None:
    seed(alice)
    seed(bob)
    response = post(alice, "delete", {"key": "enduser.id", "value": "u-1"})
    assert response.status_code == 200, response.content
    assert response.json() == {"spans": 10, "logs": 4, "metric_series": 1, "metric_points": 3, "error_occurrences": 0}
    assert services.find_user_telemetry(alice.organization.pk, None, "enduser.id", "u-1") == UserTelemetry()
    assert services.find_user_telemetry(bob.organization.pk, None, "enduser.id", "u-1").spans == 10


@pytest.mark.parametrize("what", ["export", "delete"])
def test_only_owners(alice: Tenant, what: str) -> None:
    response = post(alice, what, {"key": "enduser.id", "value": "u-1"}, role=Role.ADMIN)
    assert response.status_code == 403
    assert "org:admin" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"key": "http.method", "value": "GET"}, "key"),
        ({"key": "enduser.id"}, "value"),
        ({"key": "enduser.id", "value": "u-1", "project": "nope"}, "project"),
    ],
)
def test_bad_requests(alice: Tenant, body: dict[str, Any], field: str) -> None:
    for what in ("export", "delete"):
        response = post(alice, what, body)
        assert response.status_code == 400, response.content
        assert field in json.dumps(response.json()["error"]["details"])
