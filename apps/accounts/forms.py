from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from apps.tenants.roles import ALL_SCOPES


class RateLimitedAuthenticationForm(AuthenticationForm):
    """Django's login form; the view checks the rate limit before it runs."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That username and password do not match. Check both and try again.",
    }


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100)
    scopes = forms.MultipleChoiceField(
        choices=[(s, s) for s in sorted(ALL_SCOPES)], widget=forms.CheckboxSelectMultiple
    )
    expires_at = forms.DateTimeField(
        required=False,
        label="Expires at (UTC)",
        help_text="Optional, UTC (YYYY-MM-DD HH:MM). Empty: never expires.",
        # The browser's date-time picker; its value is read as UTC (TIME_ZONE = "UTC").
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    def __init__(self, *args: Any, allowed: frozenset[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["scopes"].choices = [(s, s) for s in sorted(allowed)]  # type: ignore[attr-defined]
