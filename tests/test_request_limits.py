import json

import pytest
from django.test import override_settings

from tests.conftest import Tenant, session_client


@pytest.mark.django_db
@override_settings(VIGIL_MAX_REQUEST_BYTES=1000)
def test_oversized_api_body_gets_413_and_changes_nothing(alice: Tenant) -> None:
    client = session_client(alice.owner)
    body = json.dumps({"name": "x" * 2000})
    response = client.post(f"/api/v1/orgs/{alice.slug}/projects/", body, content_type="application/json")
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "payload_too_large"
    assert "limit is 1000 bytes" in error["message"]
    listing = client.get(f"/api/v1/orgs/{alice.slug}/projects/").json()
    assert listing["count"] == 1


@pytest.mark.django_db
@override_settings(VIGIL_MAX_REQUEST_BYTES=1000)
def test_body_under_the_limit_is_accepted(alice: Tenant) -> None:
    client = session_client(alice.owner)
    response = client.post(
        f"/api/v1/orgs/{alice.slug}/projects/", {"name": "Checkout"}, content_type="application/json"
    )
    assert response.status_code == 201, response.content
