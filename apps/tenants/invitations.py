"""The invitation email."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse

from apps.tenants.services import IssuedInvitation


def invitation_url(token: str) -> str:
    return settings.VIGIL_PUBLIC_URL.rstrip("/") + reverse("tenants:accept-invitation", args=[token])


def send_invitation(issued: IssuedInvitation, organization_name: str, inviter: Any) -> None:
    invitation = issued.invitation
    link = invitation_url(issued.token)
    send_mail(
        subject=f"{inviter.get_username()} invited you to {organization_name} on Vigil",
        message=(
            f"{inviter.get_username()} invited you to join {organization_name} on Vigil as {invitation.role}.\n\n"
            f"Accept the invitation: {link}\n\n"
            f"The link works once and expires on {invitation.expires_at:%Y-%m-%d %H:%M} UTC.\n"
        ),
        from_email=None,
        recipient_list=[invitation.email],
    )
