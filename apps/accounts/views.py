"""Sign-in, sign-out, password and API token pages. Thin: Django's auth views plus audit and rate limiting."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy

from apps.accounts import queries, services, throttle
from apps.accounts.forms import ApiTokenForm, RateLimitedAuthenticationForm
from apps.accounts.models import ApiToken
from apps.audit.services import Origin
from apps.core.reveal import stash_secret, take_secret
from apps.core.views import TenantView
from apps.tenants.roles import Scope


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = RateLimitedAuthenticationForm
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        username = request.POST.get("username", "")
        ip = request.META.get("REMOTE_ADDR")
        wait = throttle.seconds_locked(ip, username)
        if wait:
            message = (
                f"Too many failed sign-in attempts. Wait {wait} seconds and try again, "
                "or reset your password if you have forgotten it."
            )
            response = render(request, self.template_name, {"form": self.get_form(), "throttled": message}, status=429)
            response["Retry-After"] = str(wait)
            return response
        return super().post(request, *args, **kwargs)

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        throttle.clear_username(form.get_user().get_username())
        services.record_login(form.get_user(), Origin.from_request(self.request))
        return response

    def form_invalid(self, form: Any) -> HttpResponse:
        username = self.request.POST.get("username", "")
        throttle.note_failure(self.request.META.get("REMOTE_ADDR"), username)
        user = get_user_model().objects.filter(username__iexact=username).first() if username else None
        if user is not None:
            services.record_failed_login(user, Origin.from_request(self.request), reason="wrong password")
        return super().form_invalid(form)


class LogoutView(auth_views.LogoutView):
    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated:
            services.record_logout(request.user, Origin.from_request(request))
        return super().post(request, *args, **kwargs)


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("home")

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        services.record_password_changed(self.request.user, Origin.from_request(self.request))
        messages.success(self.request, "Your password was changed.")
        return response


class PasswordResetView(auth_views.PasswordResetView):
    template_name = "accounts/password_reset.html"
    email_template_name = "accounts/password_reset_email.txt"
    subject_template_name = "accounts/password_reset_subject.txt"
    success_url = reverse_lazy("accounts:password-reset-done")

    def form_valid(self, form: Any) -> HttpResponse:
        # The link must point at the public address, not whatever Host the request carried.
        self.extra_email_context = {"public_url": settings.VIGIL_PUBLIC_URL.rstrip("/")}
        return super().form_valid(form)


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "accounts/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:login")

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        services.record_password_reset(form.user, Origin.from_request(self.request))
        messages.success(self.request, "Your password was reset. Sign in with the new one.")
        return response


# --- API tokens -------------------------------------------------------------

_API_TOKEN = "api_token"  # noqa: S105  (the kind of secret stashed for the reveal page, not a secret)


class ApiTokensView(TenantView):
    """The signed-in user's own API tokens in this organization; any member may hold tokens."""

    scope_map = {"GET": Scope.ORG_READ, "POST": Scope.ORG_READ}

    def get(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        return self._page(request, ApiTokenForm(allowed=self.access.scopes))

    def post(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        form = ApiTokenForm(request.POST, allowed=self.access.scopes)
        if form.is_valid():
            try:
                issued = services.create_api_token(
                    self.access,
                    request.user,
                    name=form.cleaned_data["name"],
                    scopes=form.cleaned_data["scopes"],
                    expires_at=form.cleaned_data["expires_at"],
                    origin=Origin.from_request(request),
                )
            except services.TokenError as exc:
                form.add_error(None, str(exc))
                return self._page(request, form, status=400)
            stash_secret(request, _API_TOKEN, issued.token.pk, issued.plaintext)
            return redirect("accounts:token-created", organization_slug=self.access.organization_slug)
        return self._page(request, form)

    def _page(self, request: HttpRequest, form: ApiTokenForm, status: int = 200) -> HttpResponse:
        tokens = queries.api_tokens_of(self.access.organization_id, request.user)
        return render(request, "accounts/tokens.html", {"tokens": tokens, "form": form}, status=status)


class ApiTokenCreatedView(TenantView):
    """Shows a new token's plaintext once; afterwards it sends back to the list, which shows only the prefix."""

    scope_map = {"GET": Scope.ORG_READ}

    def get(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        tokens_url = reverse("accounts:tokens", args=[self.access.organization_slug])
        revealed = take_secret(request, _API_TOKEN)
        token = None
        if revealed is not None:
            try:
                token = queries.api_token(self.access.organization_id, request.user, revealed.object_id)
            except ApiToken.DoesNotExist:
                token = None  # stashed in another organization's tab: do not show it here
        if revealed is None or token is None:
            messages.info(
                request, "A new token is shown only once, right after it is created. Create another if needed."
            )
            return redirect(tokens_url)
        response = render(
            request,
            "accounts/token_created.html",
            {"token": token, "plaintext": revealed.plaintext, "back": tokens_url},
        )
        response["Cache-Control"] = "no-store"  # the back button must not bring the secret back from cache
        return response


class ApiTokenRevokeView(TenantView):
    model = ApiToken
    scope_map = {"POST": Scope.ORG_READ}

    def post(self, request: HttpRequest, token_id: int, **kwargs: Any) -> HttpResponse:
        try:
            token = queries.api_token(self.access.organization_id, request.user, token_id)
        except ApiToken.DoesNotExist:
            messages.error(request, "That token does not exist or is not yours.")
        else:
            services.revoke_api_token(token, request.user, origin=Origin.from_request(request))
            messages.success(request, f"Token “{token.name}” ({token.prefix}…) revoked.")
        return redirect("accounts:tokens", organization_slug=self.access.organization_slug)
