"""The span store's read API: trace search, services, operations and the service map, from real SDK traffic."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

from tests.conftest import Tenant, session_client
from tests.otel_traffic import produce_trace, providers


@pytest.fixture
def shop(alice: Tenant, asgi_url: str, ingest_key: str) -> dict[str, Any]:
    exporter = OTLPSpanExporter(endpoint=f"{asgi_url}/v1/traces", headers={"Authorization": f"Bearer {ingest_key}"})
    made, sent = providers(exporter)
    for _ in range(3):
        produce_trace(made)
    return {"base": f"/api/v1/orgs/{alice.slug}/projects/{alice.project.slug}", "sent": sent.get_finished_spans()}


def get(tenant: Tenant, url: str, **params: Any) -> Any:
    response = session_client(tenant.owner).get(url, params)
    assert response.status_code == 200, response.content
    return response.json()


def test_search_filters(alice: Tenant, shop: dict[str, Any]) -> None:
    base = shop["base"] + "/traces/"
    everything = get(alice, base)["results"]
    # warmup traces (1 span) and checkout traces (4 spans), three of each
    assert sorted(t["span_count"] for t in everything) == [1, 1, 1, 4, 4, 4]
    by_route = get(alice, base, **{"attr.http.route": "/checkout"})["results"]
    assert len(by_route) == 3
    assert all(t["root"] == {"name": "GET /checkout", "service": "frontend", "complete": True} for t in by_route)
    assert all(t["services"] == ["checkout", "frontend"] and t["error"] for t in by_route)
    assert len(get(alice, base, **{"attr.http.response.status_code": "500"})["results"]) == 3  # numeric attribute
    assert len(get(alice, base, **{"attr.service.version": "2.0.0"})["results"]) == 3  # resource attribute
    assert len(get(alice, base, status="error", service="checkout")["results"]) == 3
    assert get(alice, base, min_duration_ms="60000")["results"] == []
    assert len(get(alice, base, limit="2")["results"]) == 2


def test_bad_search_parameters_are_400(alice: Tenant, shop: dict[str, Any]) -> None:
    client = session_client(alice.owner)
    for params in ({"from": "yesterday"}, {"status": "broken"}, {"limit": "0"}, {"min_duration_ms": "-1"}):
        response = client.get(shop["base"] + "/traces/", params)
        assert response.status_code == 400, params
        assert response.json()["error"]["details"]
    assert client.get(shop["base"] + "/traces/" + "zz" * 16 + "/").status_code == 400
    assert client.get(shop["base"] + "/traces/" + "ab" * 16 + "/").status_code == 404


def test_services_operations_and_map(alice: Tenant, shop: dict[str, Any]) -> None:
    services = {row["service"]: row for row in get(alice, shop["base"] + "/services/")["results"]}
    assert set(services) == {"frontend", "checkout"}
    assert services["frontend"]["request_count"] == 3  # GET /checkout (SERVER)
    assert services["checkout"]["error_count"] == 3
    assert services["checkout"]["error_rate"] == 1.0
    assert services["frontend"]["p95_ms"] is not None

    operations = get(alice, shop["base"] + "/services/frontend/operations/")["results"]
    names = {(row["operation"], row["span_kind"]): row["request_count"] for row in operations}
    assert names == {("GET /checkout", 2): 3, ("POST checkout", 3): 3, ("warmup", 1): 3}
    response = session_client(alice.owner).get(shop["base"] + "/services/nope/operations/")
    assert response.status_code == 404

    graph = get(alice, shop["base"] + "/service-map/")
    edges = {(e["source"], e["target"], e["target_kind"]): e for e in graph["edges"]}
    assert edges[("frontend", "checkout", "service")]["call_count"] == 3
    assert edges[("frontend", "checkout", "service")]["error_count"] == 3
    assert edges[("checkout", "postgresql", "database")]["call_count"] == 3
    kinds = {node["id"]: node["kind"] for node in graph["nodes"]}
    assert kinds["postgresql"] == "database"
    assert kinds["frontend"] == "service"
