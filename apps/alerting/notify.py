"""What an incident tells its channels, and which channels it tells.

Notifications are written as pending deliveries in the caller's transaction (``apps.notifications.services
.enqueue``) and sent after commit, so a rolled-back change of state never notifies anyone. The channels
told that an incident started are the ones told that it was acknowledged or resolved, with the same
``dedup_key`` (PagerDuty closes its own incident with it).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core import signing
from django.urls import reverse

from apps.alerting import rendering, suppression
from apps.alerting.models import AlertInstance, AlertRule, EventKind, Incident, IncidentEvent, Source
from apps.notifications import services as notification_services
from apps.notifications.message import Event, Notification
from apps.notifications.models import Channel, Delivery
from apps.tenants.models import Organization, Project

ACTION_SALT = "vigil.incident-action"
ACTIONS = ("acknowledge", "resolve")


def subject(incident: Incident) -> str:
    return f"incident:{incident.pk}"


def title(rule: AlertRule, instance: AlertInstance) -> str:
    context = _context(rule, instance, links={})
    text = rendering.render(rule.title_template, context) if rule.title_template else ""
    if not text.strip():
        group = ", ".join(f"{k}={v}" for k, v in instance.group_labels.items())
        text = f"{rule.name}" + (f" ({group})" if group else "")
    return text[:300]


def summary(rule: AlertRule, instance: AlertInstance, links: dict[str, str]) -> str:
    """The message template filled in, or one line saying which values crossed which thresholds."""
    if rule.message_template:
        return rendering.render(rule.message_template, _context(rule, instance, links))[:2000]
    parts = []
    for condition in rule.conditions:
        value = instance.values.get(condition["query"])
        threshold = condition.get(instance.severity, condition.get("critical", condition.get("warning")))
        parts.append(f"{_describe(rule.queries[condition['query']])} = {rendering.render('{{ v }}', {'v': value})}"
                     f" ({condition['op']} {threshold})")  # fmt: skip
    return f" {rule.combine.upper()} ".join(parts)


def _describe(query: dict[str, Any]) -> str:
    source = query["source"]
    if source == Source.RED:
        what = query["measure"]
        where = "/".join(x for x in (query.get("service"), query.get("operation")) if x)
        return f"{what} of {where}" if where else what
    if source == Source.METRIC:
        return f"{query['aggregation']}({query['metric']})"
    if source == Source.LOGS:
        return "log count"
    return "trace count"


def _context(rule: AlertRule, instance: AlertInstance, links: dict[str, str]) -> dict[str, Any]:
    return {
        "rule": rule.name,
        "severity": instance.severity,
        "state": instance.state,
        "project": getattr(rule.project, "name", ""),
        **{f"values.{name}": value for name, value in instance.values.items()},
        **{f"labels.{key}": value for key, value in suppression.alert_labels(rule, instance).items()},
        **{f"link.{name}": url for name, url in links.items()},
    }


def links(incident: Incident, rule: AlertRule | None, instance: AlertInstance | None) -> dict[str, str]:
    """Absolute links: the incident, the chart and traces behind the alert, the runbook, and a signed
    acknowledge link (it opens a confirmation page; the link alone changes nothing)."""
    organization: Organization = incident.organization
    base = settings.VIGIL_PUBLIC_URL.rstrip("/")
    org = {"organization_slug": organization.slug}
    out = {"incident": base + reverse("alerting:incident", kwargs={**org, "pk": incident.pk})}
    if rule is not None and instance is not None:
        project: Project = rule.project
        out.update(_chart_links(base, {**org, "project_slug": project.slug}, rule, instance, incident.opened_at))
        if rule.runbook_url:
            out["runbook"] = rule.runbook_url
    out["acknowledge"] = base + reverse("alerting:incident-action",
                                        kwargs={"token": action_token(incident, "acknowledge")})  # fmt: skip
    return out


def _chart_links(base: str, kwargs: dict[str, str], rule: AlertRule, instance: AlertInstance,
                 at: datetime) -> dict[str, str]:  # fmt: skip
    query = next(iter(rule.queries.values()))
    window = timedelta(seconds=query["window_seconds"])
    times = {
        "from": (at - window * 6).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "to": (at + window).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    service = instance.group_labels.get("service") or query.get("service")
    out = {}
    if query["source"] == Source.METRIC:
        out["chart"] = (
            base + reverse("apm:metrics", kwargs=kwargs) + "?" + urlencode({"name": query["metric"], **times})
        )
    elif query["source"] == Source.LOGS:
        filters = {k: v for k, v in {"q": query.get("text"), "service": service}.items() if v}
        out["chart"] = base + reverse("apm:logs", kwargs=kwargs) + "?" + urlencode({**filters, **times})
    elif service:
        out["chart"] = base + reverse("apm:service", kwargs={**kwargs, "service": service}) + "?" + urlencode(times)
    traces = {k: v for k, v in {"service": service, "operation": instance.group_labels.get("operation")
                                or query.get("operation")}.items() if v}  # fmt: skip
    out["traces"] = base + reverse("apm:traces", kwargs=kwargs) + "?" + urlencode({**traces, **times})
    return out


def action_token(incident: Incident, action: str) -> str:
    return signing.dumps({"i": incident.pk, "o": incident.organization_id, "a": action}, salt=ACTION_SALT,
                         compress=True)  # fmt: skip


def read_action_token(token: str) -> tuple[int, int, str] | None:
    """(organization id, incident id, action) a signed link grants; None when the token is forged, expired or
    names no known action (links stay valid ``VIGIL_ACTION_LINK_DAYS`` days)."""
    try:
        data = signing.loads(token, salt=ACTION_SALT, max_age=timedelta(days=settings.VIGIL_ACTION_LINK_DAYS))
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or data.get("a") not in ACTIONS:
        return None
    if not all(isinstance(data.get(key), int) for key in ("o", "i")):
        return None
    return data["o"], data["i"], str(data["a"])


def notification(incident: Incident, event: Event, at: datetime, instance: AlertInstance | None = None) -> Notification:
    """``instance``: the alert it is about (default: the incident's first)."""
    rule = incident.rule
    if instance is None and rule is not None:
        instance = incident.alerts.order_by("pk").first()
    found_links = links(incident, rule, instance)
    text = summary(rule, instance, found_links) if rule is not None and instance is not None else incident.title
    details: dict[str, Any] = {}
    if instance is not None:
        details.update(instance.values)
    details.update({k: v for k, v in incident.labels.items() if k not in details})
    if incident.probable_origin and len(incident.services) > 1:
        details["probable origin"] = incident.probable_origin
    return Notification(
        event=event, dedup_key=incident.dedup_key, title=incident.title, severity=incident.severity, summary=text,
        details=details, source=f"vigil: {rule.name if rule else incident.title}", links=found_links, timestamp=at,
        organization=incident.organization.name,
    )  # fmt: skip


def send(incident: Incident, channels: Iterable[Channel], event: Event, at: datetime, *, step: str = "",
         instance: AlertInstance | None = None) -> list[int]:  # fmt: skip
    """Queue ``event`` for each channel (once per channel); the channel ids queued, noted on the timeline."""
    message = notification(incident, event, at, instance)
    queued = []
    seen: set[int] = set()
    for channel in channels:
        if channel.pk in seen:
            continue
        seen.add(channel.pk)
        if notification_services.enqueue(channel, message, subject=subject(incident)) is not None:
            queued.append(channel.pk)
    if queued:
        IncidentEvent.objects.create(
            organization_id=incident.organization_id, incident=incident, kind=EventKind.NOTIFIED, at=at,
            text=f"{event} sent to {len(queued)} channel(s)", data={"event": event, "channels": queued, "step": step},
        )  # fmt: skip
    return queued


def incident_opened(incident: Incident, rule: AlertRule, instance: AlertInstance, at: datetime) -> None:
    """Tell the rule's own channels now; escalation (routing → policy) tells its first step's (escalation.py)."""
    channels = Channel.objects.filter(pk__in=[int(c) for c in rule.channels], enabled=True).order_by("pk")
    send(incident, channels, "trigger", at, instance=instance)


def incident_changed(incident: Incident, event: Event, at: datetime) -> None:
    """Acknowledged or resolved: tell every channel that was told it started."""
    told = (
        Delivery.objects.filter(subject=subject(incident), event="trigger")
        .exclude(channel=None)
        .values_list("channel_id", flat=True)
        .distinct()
    )
    send(incident, Channel.objects.filter(pk__in=list(told), enabled=True).order_by("pk"), event, at)
