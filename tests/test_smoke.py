import pytest

from tests.conftest import Tenant, session_client


@pytest.mark.django_db
def test_member_lists_projects_of_own_organization(alice: Tenant) -> None:
    response = session_client(alice.owner).get(f"/api/v1/orgs/{alice.slug}/projects/")
    assert response.status_code == 200, response.content
    assert [p["slug"] for p in response.json()["results"]] == ["app"]
