"""The alerting pages through the Django test client: the rule form (create, field errors, edit, preview), the rule
page (mute, enable), silences (create, expire, prefilled from an incident) and the analytics page."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from apps.alerting.models import AlertRule, Incident, Silence
from apps.audit.models import AuditEntry
from apps.core.scoping import tenant_scope
from apps.tenants.roles import Role
from tests.alerting.conftest import channel, checkout_rule, spans, store
from tests.alerting.test_analytics import DAY, history
from tests.conftest import Tenant

pytestmark = pytest.mark.django_db


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def rules_url(tenant: Tenant, suffix: str = "") -> str:
    return f"/o/{tenant.slug}/p/{tenant.project.slug}/alert-rules/{suffix}"


def text(response: Any) -> str:
    """The page's text with tags removed and spaces collapsed (what a reader sees)."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def error_of(response: Any, input_id: str) -> str:
    """The message shown next to the input ``input_id`` (its ``<id>-error`` element)."""
    found = re.search(rf'id="{re.escape(input_id)}-error"[^>]*>([^<]*)<', response.content.decode())
    assert found is not None, f"no error shown next to {input_id}"
    return unescape(found.group(1))


def rule_post(**overrides: str) -> dict[str, str]:
    """What the form sends for a one-query, one-condition rule on checkout's p95."""
    return {
        "name": "checkout slow", "description": "p95 of checkout", "enabled": "on",
        "queries-0-name": "latency", "queries-0-source": "red", "queries-0-window": "5",
        "queries-0-measure": "p95", "queries-0-service": "checkout", "queries-0-operation": "",
        "queries-0-metric": "", "queries-0-aggregation": "", "queries-0-filters": "",
        "conditions-0-query": "latency", "conditions-0-op": ">", "conditions-0-critical": "500",
        "conditions-0-warning": "300", "conditions-0-recovery": "",
        "combine": "and", "for_seconds": "60", "interval_seconds": "30", "no_data": "ok", "group_by": "",
        "title_template": "{{ rule }} on {{ labels.service }}", "message_template": "p95 is {{ values.latency }} ms",
        "runbook_url": "https://wiki.example.com/runbooks/checkout", "labels": "team=payments, tier=1",
        "incident_grouping": "service", "intent": "save", **overrides,
    }  # fmt: skip


def test_the_form_creates_a_rule_and_shows_field_errors_next_to_their_field(alice: Tenant) -> None:
    with tenant_scope(alice.organization.pk):
        team = channel(alice, "email", {"recipients": ["oncall@example.com"]}, name="On-call mail")
    client = signed_in(alice.members[Role.EDITOR])
    page = client.get(rules_url(alice, "new/"))
    assert page.status_code == 200
    assert "On-call mail" in text(page)  # the organization's team channels are offered
    assert "{{ values.a }}" in text(page)  # and the placeholders of the templates

    bad = client.post(rules_url(alice, "new/"), rule_post(**{"conditions-0-critical": "abc", "labels": "team"}))
    assert bad.status_code == 400
    assert error_of(bad, "conditions-0-critical") == "A number, not 'abc'."
    assert error_of(bad, "labels").startswith("Write key=value pairs")
    assert 'value="checkout slow"' in bad.content.decode()  # what was typed comes back
    unknown = client.post(rules_url(alice, "new/"), rule_post(**{"queries-0-service": "", "group_by": "host"}))
    assert unknown.status_code == 400
    assert "cannot be grouped by 'host'" in error_of(unknown, "group_by")
    assert AlertRule.objects.for_organization(alice.organization.pk).count() == 0

    saved = client.post(rules_url(alice, "new/"), rule_post(channels=str(team.pk)))
    assert saved.status_code == 302
    rule = AlertRule.objects.for_organization(alice.organization.pk).get()
    assert saved["Location"] == rules_url(alice, f"{rule.pk}/")
    assert rule.queries == {"latency": {"source": "red", "window_seconds": 300, "measure": "p95",
                                        "service": "checkout", "operation": None}}  # fmt: skip
    assert rule.conditions == [{"query": "latency", "op": ">", "critical": 500, "warning": 300}]
    assert (rule.for_seconds, rule.no_data, rule.labels, rule.incident_grouping, rule.channels) == (
        60,
        "ok",
        {"team": "payments", "tier": "1"},
        ["service"],
        [team.pk],
    )
    assert rule.title_template == "{{ rule }} on {{ labels.service }}"
    assert rule.created_by == alice.members[Role.EDITOR]
    assert AuditEntry.objects.for_organization(alice.organization.pk).filter(action="alert_rule.created").exists()

    again = client.post(rules_url(alice, "new/"), rule_post())
    assert again.status_code == 400
    assert error_of(again, "name") == "This project already has a rule named 'checkout slow'."


def test_rows_are_added_and_removed_without_javascript(alice: Tenant) -> None:
    client = signed_in(alice.owner)
    added = client.post(rules_url(alice, "new/"), rule_post(row="add-queries"))
    assert added.status_code == 200
    assert 'name="queries-1-name" value="a"' in added.content.decode()
    removed = client.post(rules_url(alice, "new/"), rule_post(row="remove-conditions-0"))
    assert "conditions-0-query" not in removed.content.decode().split("<template")[0]
    assert AlertRule.objects.for_organization(alice.organization.pk).count() == 0


def test_edit_shows_the_rule_and_saves_changes(alice: Tenant) -> None:
    with tenant_scope(alice.organization.pk):
        rule = checkout_rule(alice, [])
    client = signed_in(alice.owner)
    page = client.get(rules_url(alice, f"{rule.pk}/edit/"))
    assert page.status_code == 200
    body = page.content.decode()
    assert sorted(re.findall(r'name="queries-\d+-name" value="(\w+)"', body)) == ["errors", "latency"]
    assert 'name="conditions-1-critical" value="0.05"' in body

    post = rule_post(name="checkout slow and failing", **{"conditions-0-critical": "800"})
    post.update({"queries-1-name": "errors", "queries-1-source": "red", "queries-1-window": "10",
                 "queries-1-measure": "error_rate", "queries-1-service": "checkout", "conditions-1-query": "errors",
                 "conditions-1-op": ">=", "conditions-1-critical": "0.1", "combine": "or"})  # fmt: skip
    saved = client.post(rules_url(alice, f"{rule.pk}/edit/"), post)
    assert saved.status_code == 302, saved.content[:2000]
    rule.refresh_from_db()
    assert rule.conditions == [{"query": "latency", "op": ">", "critical": 800, "warning": 300},
                               {"query": "errors", "op": ">=", "critical": 0.1}]  # fmt: skip
    assert (rule.queries["errors"]["window_seconds"], rule.combine) == (600, "or")
    assert AuditEntry.objects.for_organization(alice.organization.pk).filter(action="alert_rule.updated").exists()

    shown = client.get(rules_url(alice, f"{rule.pk}/"))
    assert shown.status_code == 200
    assert "latency >" in text(shown)
    listed = client.get(rules_url(alice))
    assert "checkout slow and failing" in text(listed)
    assert "all OK" in text(listed)


def test_mute_unmute_disable_and_delete_from_the_rule_page(alice: Tenant) -> None:
    with tenant_scope(alice.organization.pk):
        rule = checkout_rule(alice, [])
    client = signed_in(alice.members[Role.EDITOR])
    url = rules_url(alice, f"{rule.pk}/")
    before = timezone.now()
    assert client.post(url, {"action": "mute", "for": "4h"}).status_code == 302
    rule.refresh_from_db()
    assert rule.muted_until is not None
    assert timedelta(hours=4) <= rule.muted_until - before < timedelta(hours=4, minutes=1)
    assert "muted until" in text(client.get(url))

    past = client.post(url, {"action": "mute", "until": "2001-01-01T10:00"}, follow=True)
    assert "has passed" in text(past)
    until = (timezone.now() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    client.post(url, {"action": "mute", "until": until})
    rule.refresh_from_db()
    assert rule.muted_until is not None
    assert rule.muted_until.strftime("%Y-%m-%dT%H:%M") == until

    client.post(url, {"action": "unmute"})
    client.post(url, {"action": "disable"})
    rule.refresh_from_db()
    assert (rule.muted_until, rule.enabled) == (None, False)
    assert "disabled" in text(client.get(rules_url(alice)))

    assert client.get(rules_url(alice, f"{rule.pk}/delete/")).status_code == 200  # asks first
    assert client.post(rules_url(alice, f"{rule.pk}/delete/")).status_code == 302
    assert not AlertRule.objects.for_organization(alice.organization.pk).exists()


def test_preview_shows_when_the_rule_would_have_fired_without_saving(alice: Tenant) -> None:
    store(alice, spans("checkout", [900.0] * 20, errors=15, ago_s=3 * 3600))
    client = signed_in(alice.owner)
    response = client.post(rules_url(alice, "new/"), rule_post(intent="preview", for_seconds="0"))
    assert response.status_code == 200
    assert 'data-testid="fire-count">1<' in response.content.decode()
    assert 'id="preview-chart-0"' in response.content.decode()  # the figure's JSON for plotly
    assert "When it would have fired (1)" in text(response)
    assert not AlertRule.objects.for_organization(alice.organization.pk).exists()

    quiet = client.post(
        rules_url(alice, "new/"),
        rule_post(intent="preview", **{"conditions-0-critical": "5000", "conditions-0-warning": ""}),
    )
    assert 'data-testid="fire-count">0<' in quiet.content.decode()
    invalid = client.post(rules_url(alice, "new/"), rule_post(intent="preview", **{"queries-0-measure": "p42"}))
    assert invalid.status_code == 400
    assert error_of(invalid, "queries-0-measure").startswith("Use one of")

    with tenant_scope(alice.organization.pk):
        rule = checkout_rule(alice, [], conditions=[{"query": "latency", "op": ">", "critical": 500}])
    page = client.get(rules_url(alice, f"{rule.pk}/"))
    assert 'data-testid="fire-count">1<' in page.content.decode()


def test_silences_are_created_listed_and_expired(alice: Tenant) -> None:
    client = signed_in(alice.members[Role.EDITOR])
    url = f"/o/{alice.slug}/silences/"
    assert "No active silence" in text(client.get(url))
    form = client.get(url + "new/", {"label.service": "checkout", "project": "app", "comment": "Incident #3"})
    assert 'name="matcher_value" value="checkout"' in form.content.decode()
    assert '<option value="app" selected>' in form.content.decode()

    missing = client.post(url + "new/", {"matcher_label": ["service"], "matcher_op": ["="],
                                         "matcher_value": ["checkout"], "duration": "1h", "comment": " "})  # fmt: skip
    assert missing.status_code == 400
    assert error_of(missing, "comment").startswith("Say why")
    regex = client.post(url + "new/", {"matcher_label": ["service", ""], "matcher_op": ["=~", "="],
                                       "matcher_value": ["check(", ""], "duration": "1h",
                                       "comment": "deploy"})  # fmt: skip
    assert regex.status_code == 400
    assert "Not a regular expression" in text(regex)

    created = client.post(url + "new/", {
        "matcher_label": ["service", "severity"], "matcher_op": ["=", "!="], "matcher_value": ["checkout", "info"],
        "kind": "maintenance", "project": "app", "duration": "2h", "comment": "database upgrade",
    })  # fmt: skip
    assert created.status_code == 302
    silence = Silence.objects.for_organization(alice.organization.pk).get()
    assert silence.matchers == [{"label": "service", "op": "=", "value": "checkout"},
                                {"label": "severity", "op": "!=", "value": "info"}]  # fmt: skip
    assert (silence.kind, silence.project_id, silence.comment) == ("maintenance", alice.project.pk, "database upgrade")
    assert timedelta(hours=2) - (silence.ends_at - silence.starts_at) < timedelta(seconds=5)
    assert "database upgrade" in text(client.get(url))

    later = client.post(url + "new/", {"matcher_label": ["service"], "matcher_op": ["="], "matcher_value": ["api"],
                                       "starts_at": (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
                                       "duration": "", "ends_at": "", "comment": "planned"})  # fmt: skip
    assert error_of(later, "ends_at").startswith("Choose how long")

    assert client.post(url + f"{silence.pk}/expire/").status_code == 302
    silence.refresh_from_db()
    assert silence.ends_at <= timezone.now()
    listing = client.get(url).content.decode()
    assert 'data-testid="silences-ended"' in listing
    assert 'data-testid="silences-active"' not in listing


def test_the_incident_page_links_to_a_silence_of_its_labels(alice: Tenant) -> None:
    with tenant_scope(alice.organization.pk):
        rule = checkout_rule(alice, [])
        incident = Incident.objects.create(
            organization_id=alice.organization.pk, project=alice.project, rule=rule, title="checkout slow",
            severity="critical", grouping_key="k", dedup_key="d", opened_at=timezone.now(),
            labels={"service": "checkout", "rule": rule.name, "severity": "critical"},
        )  # fmt: skip
    client = signed_in(alice.members[Role.EDITOR])
    page = client.get(f"/o/{alice.slug}/incidents/{incident.pk}/").content.decode()
    link = unescape(re.search(r'data-testid="silence-link" href="([^"]+)"', page).group(1))  # type: ignore[union-attr]
    assert "label.service=checkout" in link
    assert "severity" not in link  # silencing an alert means every severity of it
    form = client.get(link).content.decode()
    assert 'name="matcher_value" value="checkout"' in form
    assert 'name="matcher_value" value="checkout slow and failing"' in form
    assert f"Incident #{incident.pk}" in form


def test_the_analytics_page_shows_the_figures(alice: Tenant, bob: Tenant) -> None:
    with tenant_scope(alice.organization.pk):
        a, b = history(alice)
    client = signed_in(alice.members[Role.VIEWER])
    day = {"from": DAY.strftime("%Y-%m-%dT%H:%M"), "to": (DAY + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")}
    response = client.get(f"/o/{alice.slug}/alert-analytics/", day)
    assert response.status_code == 200
    shown = text(response)
    body = response.content.decode()
    assert 'data-testid="fires">4<' in body
    assert 'data-testid="precision">50 %<' in body
    # MTTA 340 s, MTTR 740 s, MTTD 115 s (tests/alerting/test_analytics.py works them out)
    assert 'data-testid="mtta-mean">5 min 40 s<' in body
    assert 'data-testid="mttr-mean">12 min 20 s<' in body
    assert 'data-testid="mttd-mean">1 min 55 s<' in body
    rows = re.findall(r'alert-rules/(\d+)/">', body.split('data-testid="rules-table"')[1].split("</table>")[0])
    assert rows == [str(a.pk), str(b.pk)]  # most fires first
    by_name = client.get(f"/o/{alice.slug}/alert-analytics/", {**day, "sort": "rule"}).content.decode()
    rows = re.findall(r'alert-rules/(\d+)/">', by_name.split('data-testid="rules-table"')[1].split("</table>")[0])
    assert rows == [str(b.pk), str(a.pk)]
    assert 'aria-sort="ascending"' in by_name
    assert 'data-testid="suggested">730<' in body
    assert alice.members[Role.EDITOR].email in shown
    assert 'id="hours-chart"' in body

    default = client.get(f"/o/{alice.slug}/alert-analytics/")  # the last 30 days include the history
    assert 'data-testid="fires">4<' in default.content.decode()
    empty = signed_in(bob.owner).get(f"/o/{bob.slug}/alert-analytics/")
    assert empty.status_code == 200
    assert "Nothing to measure yet" in text(empty)
    assert "mark it as a real problem, noise (a false positive) or expected" in text(empty)


def test_viewers_see_the_pages_but_cannot_change_anything(alice: Tenant) -> None:
    with tenant_scope(alice.organization.pk):
        rule = checkout_rule(alice, [])
        now = timezone.now()
        silence = Silence.objects.create(organization_id=alice.organization.pk, matchers=[], comment="x",
                                         starts_at=now, ends_at=now + timedelta(hours=1))  # fmt: skip
    viewer = signed_in(alice.members[Role.VIEWER])
    listing = viewer.get(rules_url(alice))
    assert listing.status_code == 200
    assert "New rule" not in text(listing)
    page = viewer.get(rules_url(alice, f"{rule.pk}/"))
    assert page.status_code == 200
    assert "Edit" not in text(page)
    assert "Mute" not in text(page)
    assert "Expire" not in text(viewer.get(f"/o/{alice.slug}/silences/"))
    refused = [
        viewer.get(rules_url(alice, "new/")),
        viewer.post(rules_url(alice, "new/"), rule_post()),
        viewer.post(rules_url(alice, f"{rule.pk}/edit/"), rule_post()),
        viewer.post(rules_url(alice, f"{rule.pk}/"), {"action": "mute", "for": "1h"}),
        viewer.post(rules_url(alice, f"{rule.pk}/delete/")),
        viewer.post(f"/o/{alice.slug}/silences/new/", {"comment": "x"}),
        viewer.post(f"/o/{alice.slug}/silences/{silence.pk}/expire/"),
    ]
    assert [response.status_code for response in refused] == [403] * len(refused)
    rule.refresh_from_db()
    assert (rule.muted_until, rule.name) == (None, "checkout slow and failing")
    assert AlertRule.objects.for_organization(alice.organization.pk).count() == 1
