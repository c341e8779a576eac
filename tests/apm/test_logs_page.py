"""The logs explorer: every filter narrows to the records expected from what was written, the severity volume
equals the records written, records link to their traces, pages continue with the cursor, bad filters answer 400."""

from __future__ import annotations

import os
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import transaction
from django.test import Client

from apps.logs.writers import write_logs
from apps.otlp.types import LogRecord, Resource, Scope
from tests.conftest import Tenant

NOW_NS = time.time_ns()
CHECKOUT = Resource({"service.name": "checkout", "host.name": "web-1"})
FRONTEND = Resource({"service.name": "frontend"})
SCOPE = Scope("shop.logging", "1.0")
BANDS = {1: "trace", 5: "debug", 9: "info", 13: "warn", 17: "error", 21: "fatal"}
TRACE_IDS = [os.urandom(16) for _ in range(3)]


def log(body: Any, severity: int, ago_s: float, *, resource: Resource = CHECKOUT, **kw: Any) -> LogRecord:
    at = NOW_NS - int(ago_s * 1e9)
    return LogRecord(
        resource=resource,
        scope=SCOPE,
        time_ns=at,
        observed_time_ns=at + 1000,
        severity_number=severity,
        severity_text=kw.pop("severity_text", ""),
        body=body,
        attributes=kw.pop("attributes", {}),
        **kw,
    )


def write(tenant: Tenant, records: list[LogRecord]) -> None:
    with transaction.atomic():
        write_logs(tenant.organization.pk, tenant.project.pk, records)


def get(tenant: Tenant, query: str = "", user: Any = None) -> Any:
    client = Client()
    client.force_login(user or tenant.members["viewer"])
    return client.get(f"/o/{tenant.slug}/p/{tenant.project.slug}/logs/{query}")


def band(severity: int) -> str:
    return BANDS[((severity - 1) // 4) * 4 + 1]


@pytest.fixture
def written(alice: Tenant, bob: Tenant) -> list[LogRecord]:
    """90 records over the last 50 minutes: two services, every severity band, some with a trace or a user."""
    records = []
    for i in range(90):
        severity = [1, 5, 9, 10, 13, 17, 21][i % 7]
        records.append(
            log(
                f"order {i} {'payment declined' if i % 5 == 0 else 'paid'}",
                severity,
                ago_s=30 + i * 33,
                resource=CHECKOUT if i % 3 else FRONTEND,
                attributes={"user.id": f"u-{i % 4}", "attempt": i % 2},
                trace_id=TRACE_IDS[i % 3] if i % 2 == 0 else None,
                span_id=os.urandom(8) if i % 2 == 0 else None,
                severity_text=band(severity).upper() if i % 4 else "",
            )
        )
    records.append(log("two hours ago", 9, ago_s=7200))  # outside the default hour
    write(alice, records)
    write(bob, [log("bob's payment declined", 17, ago_s=60)])
    return records[:90]


def shown(response: Any) -> list[str]:
    assert response.status_code == 200, response.content.decode()[:2000]
    return [r["text"] for r in response.context["records"]]


def newest_first(records: list[LogRecord]) -> list[str]:
    return [r.body for r in sorted(records, key=lambda r: r.time_ns, reverse=True)]


@pytest.mark.django_db(transaction=True)
def test_every_filter_narrows(alice: Tenant, written: list[LogRecord]) -> None:
    assert shown(get(alice)) == newest_first(written)
    assert shown(get(alice, "?q=PAYMENT+declined")) == newest_first([r for r in written if "declined" in r.body])
    assert shown(get(alice, "?service=frontend")) == newest_first([r for r in written if r.resource is FRONTEND])
    assert shown(get(alice, "?severity_min=warn")) == newest_first([r for r in written if r.severity_number >= 13])
    assert shown(get(alice, "?severity_min=10")) == newest_first([r for r in written if r.severity_number >= 10])
    assert shown(get(alice, "?attr.user.id=u-1")) == newest_first(
        [r for r in written if r.attributes["user.id"] == "u-1"]
    )
    # form rows, and a non-string attribute compared as text
    expected = [r for r in written if r.attributes["user.id"] == "u-2" and r.attributes["attempt"] == 0]
    assert expected
    assert shown(get(alice, "?attr_key=user.id&attr_value=u-2&attr_key=attempt&attr_value=0")) == newest_first(expected)
    trace = TRACE_IDS[1]
    assert shown(get(alice, f"?trace_id={trace.hex()}")) == newest_first([r for r in written if r.trace_id == trace])
    combined = [r for r in written if r.resource is CHECKOUT and r.severity_number >= 17 and "declined" in r.body]
    assert combined
    assert shown(get(alice, "?service=checkout&severity_min=error&q=declined")) == newest_first(combined)
    assert shown(get(alice, "?range=6h"))[-1] == "two hours ago"


@pytest.mark.django_db(transaction=True)
def test_severity_volume_equals_the_records_written(alice: Tenant, written: list[LogRecord]) -> None:
    def volume(query: str) -> Counter[str]:
        response = get(alice, query)
        assert response.status_code == 200
        totals: Counter[str] = Counter()
        for bar in response.context["figure"]["data"]:
            totals[bar["name"]] += sum(bar["y"])
        return totals

    assert volume("?range=1h") == Counter(band(r.severity_number) for r in written)  # the rollup and the edges
    assert volume("?range=1h&service=checkout&severity_min=warn") == Counter(
        band(r.severity_number) for r in written if r.resource is CHECKOUT and r.severity_number >= 13
    )
    assert volume("?range=1h&q=declined") == Counter(band(r.severity_number) for r in written if "declined" in r.body)
    assert volume("?range=1h&severity_min=10") == Counter(  # inside a band: counted from the records
        band(r.severity_number) for r in written if r.severity_number >= 10
    )
    # The API gives the same numbers, and its attribute filter narrows like the page's.
    client = Client()
    client.force_login(alice.owner)
    api = f"/api/v1/orgs/{alice.slug}/projects/{alice.project.slug}/logs/"
    body = client.get(api + "volume/", {"attr.user.id": "u-3"}).json()
    totals: Counter[str] = Counter()
    for bucket in body["buckets"]:
        totals.update({k: v for k, v in bucket["counts"].items() if v})
        assert bucket["total"] == sum(bucket["counts"].values())
    assert totals == Counter(band(r.severity_number) for r in written if r.attributes["user.id"] == "u-3")
    listed = client.get(api, {"attr.user.id": "u-3", "limit": 1000}).json()
    assert set(listed) == {"count", "next", "previous", "results"}
    assert listed["count"] == sum(totals.values())


@pytest.mark.django_db(transaction=True)
def test_records_link_to_their_traces_and_expand(alice: Tenant, written: list[LogRecord]) -> None:
    html = get(alice).content.decode()
    for trace in TRACE_IDS:
        assert f'href="/o/alice/p/app/traces/{trace.hex()}/"' in html
    assert html.count('data-testid="log-trace-link"') == sum(1 for r in written if r.trace_id)
    assert html.count('<details class="log-details">') == len(written)
    assert "&quot;user.id&quot;: &quot;u-1&quot;" in html  # attributes inside the record's details
    assert "&quot;host.name&quot;: &quot;web-1&quot;" in html  # and its resource
    assert 'class="log-severity sev-error"' in html
    assert 'id="logs-region"' in html
    assert 'data-live-topic="project-' in html


@pytest.mark.django_db(transaction=True)
def test_pages_continue_below_the_last_record(alice: Tenant) -> None:
    records = [log(f"line {i}", 9, ago_s=10 + i * 10) for i in range(250)]
    write(alice, records)
    seen: list[str] = []
    query = ""
    for expected in (100, 100, 50):
        response = get(alice, query)
        page = shown(response)
        assert len(page) == expected
        seen += page
        older = response.context["older_url"]
        if expected == 100:
            assert older
            query = older[older.index("?") :]
        else:
            assert older is None
    assert seen == newest_first(records)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?severity_min=loud", "Minimum severity: A severity number 1-24"),
        ("?trace_id=xyz", "Trace id: A trace id is 32 hexadecimal characters."),
        ("?from=2025-01-02T10:00&to=2025-01-01T10:00", "The start of the range must be before its end."),
        ("?attr_key=user.id", "enter both a key and a value"),
        ("?cursor=nonsense", "Page: this"),
    ],
)
def test_invalid_filters_answer_400_with_a_message(alice: Tenant, query: str, message: str) -> None:
    response = get(alice, query)
    assert response.status_code == 400
    assert message in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_empty_states(alice: Tenant, bob: Tenant) -> None:
    write(bob, [log("bob's", 9, ago_s=60)])
    html = get(alice).content.decode()
    assert 'data-testid="empty-state"' in html
    assert "No logs in this range yet." in html
    write(alice, [log("something", 9, ago_s=60)])
    response = get(alice, "?q=nothing-like-this")
    assert response.status_code == 200
    assert 'data-testid="no-matches"' in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_bar_links_narrow_to_their_step(alice: Tenant) -> None:
    write(alice, [log("in the bar", 13, ago_s=120), log("later", 9, ago_s=30)])
    response = get(alice, "?q=bar")
    links = [url for bar in response.context["figure"]["data"] for url in bar["customdata"]]
    assert len(links) == 1
    follow = get(alice, links[0][links[0].index("?") :])
    assert shown(follow) == ["in the bar"]
    moment = datetime.fromtimestamp((NOW_NS - 120 * 10**9) / 1e9, UTC)
    params = parse_qs(urlsplit(links[0]).query)
    start = datetime.fromisoformat(params["from"][0]).replace(tzinfo=UTC)
    assert datetime.fromisoformat(params["to"][0]).replace(tzinfo=UTC) - start == timedelta(minutes=1)
    assert start <= moment < start + timedelta(minutes=1)
    assert params["q"] == ["bar"]
