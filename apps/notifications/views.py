"""Channel pages: the team's channels, one channel with its delivery log, and everyone's own contact methods.

Thin: data from ``queries``, changes through ``services`` (audited), input through ``forms.ChannelForm``.
"Send test notification" is a plain form POST (works without JavaScript); it redirects back with
``?tested=<delivery id>``, and the page shows that delivery's result in the channel's row. Views with an
object id in the URL name their ``model`` (the isolation tests address a real row through it).
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from apps.audit.services import Origin
from apps.core.views import TenantView
from apps.notifications import configs, queries, services
from apps.notifications.configs import ChannelInvalid
from apps.notifications.forms import ChannelForm
from apps.notifications.models import Channel, ContactMethod, Delivery
from apps.tenants.roles import Scope

LOG_PAGE_SIZE = 50
# What each kind is, for the "add a channel" choice (a new transport without a line here shows its label only).
KIND_HELP = {
    "slack": "Posts to one Slack channel through an incoming webhook.",
    "pagerduty": "Opens, acknowledges and resolves PagerDuty alerts (Events API v2) that page the on-call person.",
    "email": "Emails a list of addresses; warnings and infos can be batched into a digest.",
    "sms": "Texts one phone number through your Twilio account.",
    "webhook": "POSTs a signed JSON body to your own endpoint (docs/notifications.md).",
    "teams": "Posts an Adaptive Card to a Microsoft Teams channel through a workflow webhook.",
}


def _tested(request: HttpRequest, organization_id: int) -> Delivery | None:
    """The test delivery named by ``?tested=``, to show its result inline."""
    raw = request.GET.get("tested", "")
    return queries.delivery(organization_id, int(raw)) if raw.isdigit() else None


def _kind_label(kind: str) -> str:
    return dict(configs.kind_choices()).get(kind, kind)


def _shown(value: Any) -> str:
    return ", ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)


def settings_of(channel: Channel) -> list[dict[str, Any]]:
    """The channel's config as label/value rows; secret values are only said to be saved."""
    shown = configs.public(channel.kind, channel.config)
    return [
        {"label": field.label, "value": _shown(shown[field.name]), "secret": shown[field.name] == configs.MASK}
        for field in configs.fields_of(channel.kind)
        if field.name in shown
    ]


def reaches(channel: Channel) -> str:
    """Who a contact method reaches: its addresses, or its phone number."""
    config = channel.config
    return _shown(config.get("recipients") or config.get("to") or "")


def _kinds(personal: bool) -> list[dict[str, str]]:
    return [
        {"kind": kind, "label": label, "help": KIND_HELP.get(kind, "")}
        for kind, label in configs.kind_choices(personal=personal)
    ]


class _ChannelPages(TenantView):
    """What team channels and contact methods share; ``personal`` tells them apart."""

    personal: ClassVar[bool] = False

    def url(self, name: str, *args: Any) -> str:
        prefix = "contact-method" if self.personal else "channel"
        return reverse(f"notifications:{prefix}{name}", args=[self.access.organization_slug, *args])

    def list_url(self) -> str:
        name = "contact-methods" if self.personal else "channels"
        return reverse(f"notifications:{name}", args=[self.access.organization_slug])

    def found(self, channel_id: int) -> Channel:
        try:
            if self.personal:
                return queries.contact_method(self.access.organization_id, self.request.user.pk, channel_id)
            return queries.channel(self.access.organization_id, channel_id)
        except Channel.DoesNotExist:
            what = "contact method of yours" if self.personal else "channel"
            raise Http404(f"No {what} {channel_id} in this organization.") from None

    def form_page(
        self, request: HttpRequest, form: ChannelForm, status: int = 200, channel: Any = None
    ) -> HttpResponse:
        context = {
            "form": form,
            "channel": channel,
            "kind_label": _kind_label(form.kind),
            "personal": self.personal,
            "cancel": self.list_url(),
        }
        return render(request, "notifications/channel_form.html", context, status=status)


class _CreatePage(_ChannelPages):
    def get(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        kind = request.GET.get("kind", "")
        if kind not in dict(configs.kind_choices(personal=self.personal)):
            context = {"kinds": _kinds(self.personal), "personal": self.personal, "cancel": self.list_url()}
            return render(request, "notifications/choose_kind.html", context)
        return self.form_page(request, ChannelForm(kind, personal=self.personal))

    def post(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        kind = request.POST.get("kind", "")
        if kind not in dict(configs.kind_choices(personal=self.personal)):
            context = {"kinds": _kinds(self.personal), "personal": self.personal, "cancel": self.list_url()}
            return render(request, "notifications/choose_kind.html", context, status=400)
        form = ChannelForm(kind, request.POST, personal=self.personal)
        if not form.is_valid():
            return self.form_page(request, form, status=400)
        try:
            channel = services.create_channel(
                self.access.organization_id,
                request.user,
                name=form.cleaned_data["name"],
                kind=kind,
                config=form.config(),
                user=request.user if self.personal else None,
                origin=Origin.from_request(request),
            )
        except ChannelInvalid as exc:
            form.add_errors(exc)
            return self.form_page(request, form, status=400)
        messages.success(request, f"“{channel.name}” added. Send a test notification to check it works.")
        return redirect(self.url("", channel.pk) if not self.personal else self.list_url())


class _EditPage(_ChannelPages):
    def get(self, request: HttpRequest, channel_id: int, **kwargs: Any) -> HttpResponse:
        channel = self.found(channel_id)
        return self.form_page(request, ChannelForm(channel.kind, channel=channel), channel=channel)

    def post(self, request: HttpRequest, channel_id: int, **kwargs: Any) -> HttpResponse:
        channel = self.found(channel_id)
        form = ChannelForm(channel.kind, request.POST, channel=channel)
        if not form.is_valid():
            return self.form_page(request, form, status=400, channel=channel)
        try:
            services.update_channel(
                channel,
                request.user,
                name=form.cleaned_data["name"],
                config=form.config(),
                enabled=form.cleaned_data.get("enabled", False),
                origin=Origin.from_request(request),
            )
        except ChannelInvalid as exc:
            form.add_errors(exc)
            return self.form_page(request, form, status=400, channel=channel)
        messages.success(request, f"“{channel.name}” saved.")
        return redirect(self.url("", channel.pk) if not self.personal else self.list_url())


class _DeletePage(_ChannelPages):
    """GET asks for confirmation; POST deletes."""

    def get(self, request: HttpRequest, channel_id: int, **kwargs: Any) -> HttpResponse:
        channel = self.found(channel_id)
        context = {
            "title": f"Delete “{channel.name}”?",
            "message": "Notifications waiting for it are skipped, and escalation steps naming it notify nobody "
            "through it any more. Its delivery log is kept.",
            "action": request.path,
            "button": "Delete",
            "cancel": self.list_url(),
        }
        return render(request, "confirm.html", context)

    def post(self, request: HttpRequest, channel_id: int, **kwargs: Any) -> HttpResponse:
        channel = self.found(channel_id)
        services.delete_channel(channel, request.user, origin=Origin.from_request(request))
        messages.success(request, f"“{channel.name}” deleted.")
        return redirect(self.list_url())


class _TestPage(_ChannelPages):
    """POST sends a test notification now, then back to where the button was, showing the result there."""

    def post(self, request: HttpRequest, channel_id: int, **kwargs: Any) -> HttpResponse:
        channel = self.found(channel_id)
        delivery = services.send_test(channel, request.user)
        if request.POST.get("next") == "channel" and not self.personal:
            return redirect(f"{self.url('', channel.pk)}?tested={delivery.pk}#test-result")
        return redirect(f"{self.list_url()}?tested={delivery.pk}#channel-{channel.pk}")


# --- Team channels --------------------------------------------------------------------------------------------------


class ChannelsView(_ChannelPages):
    scope_map = {"GET": Scope.TELEMETRY_READ}

    def get(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        organization_id = self.access.organization_id
        channels = list(queries.channels_of(organization_id))
        last = queries.last_deliveries(organization_id, [channel.pk for channel in channels])
        context = {
            "rows": [
                {"channel": channel, "last": last.get(channel.pk), "kind_label": _kind_label(channel.kind)}
                for channel in channels
            ],
            "tested": _tested(request, organization_id),
            "can_edit": Scope.ALERTS_WRITE in self.access.scopes,
        }
        return render(request, "notifications/channels.html", context)


class ChannelCreateView(_CreatePage):
    scope_map = {"GET": Scope.ALERTS_WRITE, "POST": Scope.ALERTS_WRITE}


class ChannelView(_ChannelPages):
    """One channel: its settings (secrets masked) and its delivery log, newest first."""

    model = Channel
    scope_map = {"GET": Scope.TELEMETRY_READ}

    def get(self, request: HttpRequest, channel_id: int, **kwargs: Any) -> HttpResponse:
        channel = self.found(channel_id)
        organization_id = self.access.organization_id
        page = Paginator(queries.deliveries_of(organization_id, channel.pk), LOG_PAGE_SIZE).get_page(
            request.GET.get("page")
        )
        context = {
            "channel": channel,
            "config_rows": settings_of(channel),
            "kind_label": _kind_label(channel.kind),
            "page": page,
            "tested": _tested(request, organization_id),
            "can_edit": Scope.ALERTS_WRITE in self.access.scopes,
        }
        return render(request, "notifications/channel.html", context)


class ChannelEditView(_EditPage):
    model = Channel
    scope_map = {"GET": Scope.ALERTS_WRITE, "POST": Scope.ALERTS_WRITE}


class ChannelDeleteView(_DeletePage):
    model = Channel
    scope_map = {"GET": Scope.ALERTS_WRITE, "POST": Scope.ALERTS_WRITE}


class ChannelTestView(_TestPage):
    model = Channel
    scope_map = {"POST": Scope.ALERTS_WRITE}


# --- Contact methods: every member's own ------------------------------------------------------------------------------


class ContactMethodsView(_ChannelPages):
    """Your own contact methods; members with ``alerts:write`` also see everyone's (who can be reached how)."""

    personal = True
    scope_map = {"GET": Scope.ORG_READ}

    def get(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        organization_id = self.access.organization_id
        mine = list(queries.contact_methods_of(organization_id, request.user.pk))
        last = queries.last_deliveries(organization_id, [method.pk for method in mine])
        everyone = Scope.ALERTS_WRITE in self.access.scopes
        context = {
            "rows": [
                {
                    "channel": method,
                    "last": last.get(method.pk),
                    "kind_label": _kind_label(method.kind),
                    "reaches": reaches(method),
                }
                for method in mine
            ],
            "everyone": list(queries.contact_methods_of(organization_id)) if everyone else None,
            "kinds": _kinds(personal=True),
            "tested": _tested(request, organization_id),
        }
        return render(request, "notifications/contact_methods.html", context)


class ContactMethodCreateView(_CreatePage):
    personal = True
    scope_map = {"GET": Scope.ORG_READ, "POST": Scope.ORG_READ}


class ContactMethodEditView(_EditPage):
    personal = True
    model = ContactMethod
    scope_map = {"GET": Scope.ORG_READ, "POST": Scope.ORG_READ}


class ContactMethodDeleteView(_DeletePage):
    personal = True
    model = ContactMethod
    scope_map = {"GET": Scope.ORG_READ, "POST": Scope.ORG_READ}


class ContactMethodTestView(_TestPage):
    personal = True
    model = ContactMethod
    scope_map = {"POST": Scope.ORG_READ}
