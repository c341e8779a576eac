"""Forms of the tenancy pages. They validate input only; rules of tenancy live in ``services``."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model, password_validation

from apps.tenants.roles import ROLE_RANK, Role

# The browser's own date-time picker; values are read as UTC (TIME_ZONE = "UTC").
DATETIME_WIDGET = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


def grantable_roles(actor_role: str) -> list[tuple[str, str]]:
    """The roles someone with ``actor_role`` may hand out: never one above their own."""
    rank = ROLE_RANK.get(Role(actor_role), -1) if actor_role in Role.values else -1
    return [(role.value, role.label) for role in Role if ROLE_RANK[role] <= rank]


class OrganizationForm(forms.Form):
    name = forms.CharField(max_length=100)


class ProjectForm(forms.Form):
    name = forms.CharField(max_length=100)
    slug = forms.SlugField(
        max_length=50, required=False, help_text="Optional; used in URLs. Derived from the name when empty."
    )


class ProjectRenameForm(forms.Form):
    name = forms.CharField(max_length=100)


class IngestKeyForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="Where the key is used, for example “checkout service”.")
    expires_at = forms.DateTimeField(
        required=False, widget=DATETIME_WIDGET, label="Expires at (UTC)", help_text="Optional. Empty: never expires."
    )


class InviteForm(forms.Form):
    email = forms.EmailField()
    role = forms.ChoiceField(choices=())

    def __init__(self, *args: Any, actor_role: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = grantable_roles(actor_role)  # type: ignore[attr-defined]
        self.fields["role"].initial = Role.VIEWER.value


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class InvitationSignupForm(forms.Form):
    """A new account for an invited email address; the password rules are the site's validators."""

    username = forms.CharField(max_length=150)
    password1 = forms.CharField(label="Password", strip=False, widget=forms.PasswordInput(render_value=False))
    password2 = forms.CharField(label="Password again", strip=False, widget=forms.PasswordInput(render_value=False))

    def __init__(self, *args: Any, email: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.email = email
        self.fields["username"].widget.attrs["autocomplete"] = "username"
        self.fields["password1"].widget.attrs["autocomplete"] = "new-password"
        self.fields["password2"].widget.attrs["autocomplete"] = "new-password"
        self.fields["password1"].help_text = password_validation.password_validators_help_text_html()

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        password1, password2 = data.get("password1"), data.get("password2")
        if password1 and password2 and password1 != password2:
            self.add_error("password2", "The two passwords differ.")
        elif password1:
            candidate = get_user_model()(username=data.get("username", ""), email=self.email)
            try:
                password_validation.validate_password(password1, user=candidate)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return data
