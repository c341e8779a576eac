"""Incident pages: the list, one incident with its timeline, and the signed action link of notifications."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.views import View

from apps.alerting import incidents, notify
from apps.alerting.models import Feedback, Incident, IncidentStatus
from apps.core.scoping import tenant_scope
from apps.core.views import TenantView

READ, WRITE = "telemetry:read", "alerts:write"
ORG = "o/<slug:organization_slug>/"
STATUS_FILTERS = (("open", "Open"), ("triggered", "Triggered"), ("acknowledged", "Acknowledged"),
                  ("resolved", "Resolved"), ("all", "All"))  # fmt: skip


class IncidentsView(TenantView):
    scope_map = {"GET": READ}

    def get(self, request: HttpRequest, organization_slug: str) -> HttpResponse:
        status = request.GET.get("status", "open")
        rows = Incident.objects.select_related("project", "rule").order_by("-opened_at")
        if status == "open":
            rows = rows.filter(status__in=[IncidentStatus.TRIGGERED, IncidentStatus.ACKNOWLEDGED])
        elif status in IncidentStatus.values:
            rows = rows.filter(status=status)
        elif status != "all":
            messages.error(request, "Unknown status filter; showing open incidents.")
            status = "open"
            rows = rows.filter(status__in=[IncidentStatus.TRIGGERED, IncidentStatus.ACKNOWLEDGED])
        context = {"rows": rows[:200], "status": status, "status_filters": STATUS_FILTERS,
                   "can_act": WRITE in self.access.scopes}  # fmt: skip
        return render(request, "alerting/incidents.html", context)


class IncidentView(TenantView):
    scope_map = {"GET": READ, "POST": WRITE}
    model = Incident  # what <pk> names (the generic isolation tests read it)

    def _incident(self, pk: int) -> Incident:
        found = Incident.objects.select_related("project", "rule", "acknowledged_by", "resolved_by").filter(pk=pk)
        incident = found.first()
        if incident is None:
            raise Http404("No such incident in this organization.")
        return incident

    def get(self, request: HttpRequest, organization_slug: str, pk: int) -> HttpResponse:
        incident = self._incident(pk)
        context = {
            "incident": incident,
            "alerts": incident.alerts.select_related("rule").order_by("pk"),
            "timeline": incident.events.select_related("actor").order_by("at", "pk"),
            "links": notify.links(incident, incident.rule, incident.alerts.order_by("pk").first()),
            "can_act": WRITE in self.access.scopes,
            "feedback_choices": Feedback.choices,
        }
        return render(request, "alerting/incident.html", context)

    def post(self, request: HttpRequest, organization_slug: str, pk: int) -> HttpResponse:
        incident = self._incident(pk)
        what = request.POST.get("action", "")
        if what == "acknowledge":
            done = incidents.acknowledge(incident, actor=request.user)
            _say(request, done, "Acknowledged: escalation stopped.", "It was not triggered any more.")
        elif what == "resolve":
            done = incidents.resolve(incident, actor=request.user, text=request.POST.get("text", ""))
            _say(request, done, "Resolved.", "It was already resolved.")
        elif what == "note":
            text = request.POST.get("text", "").strip()
            if text:
                incidents.add_note(incident, text[:2000], request.user)
                messages.success(request, "Note added.")
            else:
                messages.error(request, "Write the note first.")
        elif what == "feedback" and request.POST.get("feedback") in Feedback.values:
            incidents.set_feedback(incident, request.POST["feedback"], request.user)
            messages.success(request, "Thanks: the rule's precision counts this.")
        else:
            messages.error(request, "Unknown action.")
        return HttpResponseRedirect(request.get_full_path())


def _say(request: HttpRequest, done: bool, success: str, refused: str) -> None:
    (messages.success if done else messages.warning)(request, success if done else refused)


class IncidentActionView(View):
    """The link in a notification: GET shows what it will do (link previews and mail scanners fetch links, so
    fetching changes nothing); POST does it. The signed token is the credential (it names the organization and
    the incident), so no sign-in is needed and the URL carries no organization of its own."""

    def _resolve(self, token: str) -> tuple[Incident, str]:
        found = notify.read_action_token(token)
        if found is None:
            raise Http404("This link is not valid or has expired. Open the incident in Vigil instead.")
        organization_id, incident_id, action = found
        with tenant_scope(organization_id):
            incident = Incident.objects.select_related("organization").filter(pk=incident_id).first()
        if incident is None:
            raise Http404("This incident no longer exists.")
        return incident, action

    def get(self, request: HttpRequest, token: str) -> HttpResponse:
        incident, action = self._resolve(token)
        return render(request, "alerting/incident_action.html", {"incident": incident, "action": action})

    def post(self, request: HttpRequest, token: str) -> HttpResponse:
        incident, action = self._resolve(token)
        with tenant_scope(incident.organization_id):
            act: Any = incidents.acknowledge if action == "acknowledge" else incidents.resolve
            done = act(incident, actor=request.user, via="link")
        url = reverse("alerting:incident", kwargs={"organization_slug": incident.organization.slug, "pk": incident.pk})
        context = {"incident": incident, "action": action, "done": done, "incident_url": url}
        return render(request, "alerting/incident_action.html", context)


urlpatterns = [
    path(ORG + "incidents/", IncidentsView.as_view(), name="incidents"),
    path(ORG + "incidents/<int:pk>/", IncidentView.as_view(), name="incident"),
    path("incident-link/<str:token>/", IncidentActionView.as_view(), name="incident-action"),
]
