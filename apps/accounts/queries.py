"""The read API of accounts."""

from __future__ import annotations

from typing import Any

from apps.accounts.models import ApiToken


def api_tokens_of(organization_id: int, user: Any) -> list[ApiToken]:
    """One user's tokens in one organization, newest first (revoked ones too, for the record)."""
    return list(ApiToken.objects.for_organization(organization_id).filter(user_id=user.pk).order_by("-created_at"))


def api_token(organization_id: int, user: Any, token_id: int) -> ApiToken:
    """One of the user's own tokens; ``ApiToken.DoesNotExist`` for anyone else's."""
    return ApiToken.objects.for_organization(organization_id).get(user_id=user.pk, pk=token_id)
