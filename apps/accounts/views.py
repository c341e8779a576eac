"""Sign-in, sign-out and password pages. Thin: Django's auth views plus audit and rate limiting."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse_lazy

from apps.accounts import services, throttle
from apps.accounts.forms import RateLimitedAuthenticationForm
from apps.audit.services import Origin


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
