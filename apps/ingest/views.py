"""The project's scrub-rules page: custom PII rules applied at ingest."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from apps.audit.services import Origin
from apps.core.views import TenantView
from apps.ingest import services
from apps.ingest.forms import ScrubRuleForm
from apps.ingest.models import ScrubRule


class ScrubRulesView(TenantView):
    scope_map = {"GET": "telemetry:read", "POST": "projects:write"}

    def get(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        return self._page(request, ScrubRuleForm())

    def post(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        form = ScrubRuleForm(request.POST)
        if not form.is_valid():
            return self._page(request, form, status=400)
        assert self.access.project_id is not None
        try:
            services.create_scrub_rule(
                self.access.organization_id,
                self.access.project_id,
                request.user,
                origin=Origin.from_request(request),
                **form.cleaned_data,
            )
        except services.ScrubRuleError as exc:
            form.add_error("pattern", str(exc))
            return self._page(request, form, status=400)
        messages.success(request, "Rule added. New telemetry is scrubbed with it within half a minute.")
        return redirect("ingest:scrub-rules", self.access.organization_slug, self.access.project_slug)

    def _page(self, request: HttpRequest, form: ScrubRuleForm, status: int = 200) -> HttpResponse:
        assert self.access.project_id is not None
        rules = ScrubRule.objects.for_organization(self.access.organization_id).filter(
            project_id=self.access.project_id
        )
        can_edit = "projects:write" in self.access.scopes
        context = {"rules": rules, "form": form, "can_edit": can_edit}
        return render(request, "ingest/scrub_rules.html", context, status=status)


class ScrubRuleDeleteView(TenantView):
    model = ScrubRule
    scope_map = {"POST": "projects:write"}

    def post(self, request: HttpRequest, rule_id: int, **kwargs: Any) -> HttpResponse:
        rule = (
            ScrubRule.objects.for_organization(self.access.organization_id)
            .filter(project_id=self.access.project_id, pk=rule_id)
            .first()
        )
        if rule is None:
            messages.error(request, "That rule does not exist in this project.")
        else:
            services.delete_scrub_rule(rule, request.user, origin=Origin.from_request(request))
            messages.success(request, f"Rule {rule.kind} “{rule.pattern}” deleted.")
        return redirect("ingest:scrub-rules", self.access.organization_slug, self.access.project_slug)
