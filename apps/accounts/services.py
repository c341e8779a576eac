"""The write API of accounts: sign-in bookkeeping, password events, API tokens."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import ApiToken
from apps.audit.actions import Action
from apps.audit.services import Origin, record
from apps.core.access import TenantAccess
from apps.core.secrets import new_secret
from apps.tenants.queries import organization_ids_of_user
from apps.tenants.roles import ALL_SCOPES


class TokenError(ValueError):
    """A token request that cannot be granted; the message says why."""


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    plaintext: str


def _record_everywhere(user: Any, action: Action, origin: Origin, **extra: Any) -> None:
    """Account events belong to no one organization: each organization of the user gets the entry."""
    for organization_id in organization_ids_of_user(user):
        record(organization_id, action, actor=user, target=user, origin=origin, **extra)


def record_login(user: Any, origin: Origin) -> None:
    _record_everywhere(user, Action.LOGIN, origin)


def record_logout(user: Any, origin: Origin) -> None:
    _record_everywhere(user, Action.LOGOUT, origin)


def record_failed_login(user: Any, origin: Origin, reason: str) -> None:
    """A failed sign-in of an existing user (unknown usernames are only logged)."""
    for organization_id in organization_ids_of_user(user):
        record(
            organization_id,
            Action.LOGIN_FAILED,
            actor_label=user.get_username(),
            target=user,
            after={"reason": reason},
            origin=origin,
        )


def record_password_changed(user: Any, origin: Origin) -> None:
    _record_everywhere(user, Action.PASSWORD_CHANGED, origin)


def record_password_reset(user: Any, origin: Origin) -> None:
    _record_everywhere(user, Action.PASSWORD_RESET, origin)


@transaction.atomic
def create_api_token(
    access: TenantAccess,
    user: Any,
    *,
    name: str,
    scopes: Iterable[str],
    expires_at: datetime | None = None,
    origin: Origin | None = None,
) -> IssuedToken:
    """A token for ``user`` in ``access``'s organization with a subset of the user's scopes there."""
    wanted = frozenset(scopes)
    unknown = wanted - ALL_SCOPES
    if unknown:
        raise TokenError(f"Unknown scopes: {', '.join(sorted(unknown))}. Known: {', '.join(sorted(ALL_SCOPES))}.")
    beyond = wanted - access.scopes
    if beyond:
        raise TokenError(
            f"Your role '{access.role}' does not have {', '.join(sorted(beyond))}; "
            "a token can only carry scopes you have."
        )
    if not wanted:
        raise TokenError("Choose at least one scope for the token.")
    if expires_at is not None and expires_at <= timezone.now():
        raise TokenError("The expiry must be in the future.")
    secret = new_secret("vat")
    token = ApiToken.objects.for_organization(access.organization_id).create(
        organization_id=access.organization_id,
        user=user,
        name=name,
        prefix=secret.prefix,
        token_hash=secret.digest,
        scopes=sorted(wanted),
        expires_at=expires_at,
    )
    record(
        access.organization_id,
        Action.API_TOKEN_CREATED,
        actor=user,
        target=token,
        after={"scopes": sorted(wanted), "prefix": token.prefix},
        origin=origin,
    )
    return IssuedToken(token=token, plaintext=secret.plaintext)


@transaction.atomic
def revoke_api_token(token: ApiToken, actor: Any, *, origin: Origin | None = None) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        record(
            token.organization_id,
            Action.API_TOKEN_REVOKED,
            actor=actor,
            target=token,
            before={"prefix": token.prefix},
            origin=origin,
        )
    return token
