"""``Authorization: Bearer <token>`` for the REST API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from apps.accounts.models import ApiToken
from apps.core.secrets import digest

# last_used_at is a hint for people, not an audit record: write it at most this often.
_TOUCH_EVERY = timedelta(minutes=1)


class BearerTokenAuthentication(BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Send the header as 'Authorization: Bearer <token>'.")
        plaintext = parts[1].decode("latin-1")
        token = (
            ApiToken.objects.unscoped()  # the token is what identifies the organization
            .select_related("user")
            .filter(token_hash=digest(plaintext))
            .first()
        )
        if token is None:
            raise exceptions.AuthenticationFailed("This API token is not valid. Create a new one under API tokens.")
        if token.revoked_at is not None:
            raise exceptions.AuthenticationFailed("This API token was revoked. Create a new one under API tokens.")
        if not token.is_usable():
            raise exceptions.AuthenticationFailed("This API token has expired. Create a new one under API tokens.")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("The user of this API token is deactivated.")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > _TOUCH_EVERY:
            ApiToken.objects.unscoped().filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return self.keyword
