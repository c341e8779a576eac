"""The write API of tenancy: organizations, projects, members, invitations, ingest keys.

Every change is audited here, explicitly, in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from apps.audit.actions import Action
from apps.audit.services import Origin, record
from apps.core.secrets import digest, new_secret
from apps.tenants.models import IngestKey, Invitation, Membership, Organization, Project
from apps.tenants.roles import ROLE_RANK, Role


class TenancyError(ValueError):
    """A request that breaks a tenancy rule; the message says what to do instead."""


@dataclass(frozen=True)
class IssuedKey:
    key: IngestKey
    plaintext: str


@dataclass(frozen=True)
class IssuedInvitation:
    invitation: Invitation
    token: str


def _unique_slug(organization_id: int | None, name: str, model: Any) -> str:
    base = slugify(name)[:40] or "item"
    rows = model.objects.for_organization(organization_id) if organization_id else model.objects
    slug, n = base, 2
    while rows.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


def organization_slug_taken(slug: str) -> bool:
    return Organization.objects.filter(slug=slug).exists()


@transaction.atomic
def create_organization(
    name: str, owner: Any, *, slug: str | None = None, origin: Origin | None = None
) -> Organization:
    organization = Organization.objects.create(name=name, slug=slug or _unique_slug(None, name, Organization))
    Membership.objects.for_organization(organization.pk).create(organization=organization, user=owner, role=Role.OWNER)
    record(organization.pk, Action.MEMBER_JOINED, actor=owner, target=owner, after={"role": Role.OWNER}, origin=origin)
    return organization


@transaction.atomic
def update_organization(organization_id: int, actor: Any, *, name: str, origin: Origin | None = None) -> Organization:
    organization = Organization.objects.select_for_update().get(pk=organization_id)
    before = {"name": organization.name}
    organization.name = name
    organization.save(update_fields=["name"])
    record(
        organization_id,
        Action.ORGANIZATION_UPDATED,
        actor=actor,
        target=organization,
        before=before,
        after={"name": name},
        origin=origin,
    )
    return organization


@transaction.atomic
def create_project(
    organization_id: int, actor: Any, *, name: str, slug: str | None = None, origin: Origin | None = None
) -> Project:
    slug = slug or _unique_slug(organization_id, name, Project)
    if Project.objects.for_organization(organization_id).filter(slug=slug).exists():
        raise TenancyError(f"A project with the slug '{slug}' already exists in this organization.")
    project = Project.objects.for_organization(organization_id).create(
        organization_id=organization_id, name=name, slug=slug
    )
    record(
        organization_id,
        Action.PROJECT_CREATED,
        actor=actor,
        target=project,
        after={"name": name, "slug": slug},
        origin=origin,
    )
    return project


@transaction.atomic
def update_project(project: Project, actor: Any, *, name: str, origin: Origin | None = None) -> Project:
    before = {"name": project.name}
    project.name = name
    project.save(update_fields=["name"])
    record(
        project.organization_id,
        Action.PROJECT_UPDATED,
        actor=actor,
        target=project,
        before=before,
        after={"name": name},
        origin=origin,
    )
    return project


@transaction.atomic
def delete_project(project: Project, actor: Any, *, origin: Origin | None = None) -> None:
    record(
        project.organization_id,
        Action.PROJECT_DELETED,
        actor=actor,
        target=project,
        before={"name": project.name, "slug": project.slug},
        origin=origin,
    )
    project.delete()


def _check_grant(actor_role: str, role: str) -> None:
    if role not in ROLE_RANK:
        raise TenancyError(f"Unknown role '{role}'. Choose one of: {', '.join(ROLE_RANK)}.")
    if ROLE_RANK[Role(role)] > ROLE_RANK[Role(actor_role)]:
        raise TenancyError(f"Your role '{actor_role}' cannot grant the higher role '{role}'.")


def _owners_left(organization_id: int, excluding: Membership) -> int:
    return Membership.objects.for_organization(organization_id).filter(role=Role.OWNER).exclude(pk=excluding.pk).count()


@transaction.atomic
def invite_member(
    organization_id: int, actor: Any, actor_role: str, *, email: str, role: str, origin: Origin | None = None
) -> IssuedInvitation:
    _check_grant(actor_role, role)
    email = email.strip().lower()
    if Membership.objects.for_organization(organization_id).filter(user__email__iexact=email).exists():
        raise TenancyError(f"{email} is already a member of this organization.")
    secret = new_secret("vin")
    invitation = Invitation.objects.for_organization(organization_id).create(
        organization_id=organization_id,
        email=email,
        role=role,
        token_hash=secret.digest,
        invited_by=actor,
        expires_at=timezone.now() + timedelta(hours=settings.VIGIL_INVITE_TTL_HOURS),
    )
    record(
        organization_id,
        Action.MEMBER_INVITED,
        actor=actor,
        target=invitation,
        after={"email": email, "role": role},
        origin=origin,
    )
    return IssuedInvitation(invitation=invitation, token=secret.plaintext)


def find_invitation(token: str) -> Invitation:
    """The pending invitation for a link token; ``TenancyError`` says why it cannot be used."""
    invitation = (
        Invitation.objects.unscoped()  # the token is what identifies the organization here
        .select_related("organization")
        .filter(token_hash=digest(token))
        .first()
    )
    if invitation is None:
        raise TenancyError("This invitation link is not valid. Ask for a new invitation.")
    if invitation.revoked_at is not None:
        raise TenancyError("This invitation was withdrawn. Ask an admin of the organization for a new one.")
    if invitation.accepted_at is not None:
        raise TenancyError("This invitation was already used. Sign in instead.")
    if invitation.expires_at <= timezone.now():
        raise TenancyError("This invitation has expired. Ask an admin of the organization for a new one.")
    return invitation


@transaction.atomic
def accept_invitation(token: str, user: Any, *, origin: Origin | None = None) -> Membership:
    invitation = find_invitation(token)
    # Lock, then check again: of two simultaneous accepts only the first may use the link.
    Invitation.objects.unscoped().select_for_update().filter(pk=invitation.pk).get()
    invitation = find_invitation(token)
    organization_id = invitation.organization_id
    if Membership.objects.for_organization(organization_id).filter(user=user).exists():
        raise TenancyError("You are already a member of this organization.")
    membership = Membership.objects.for_organization(organization_id).create(
        organization_id=organization_id, user=user, role=invitation.role
    )
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_at"])
    record(
        organization_id,
        Action.MEMBER_JOINED,
        actor=user,
        target=user,
        after={"role": invitation.role, "invitation": invitation.pk},
        origin=origin,
    )
    return membership


def create_user_for_invitation(token: str, *, username: str, password: str) -> Any:
    invitation = find_invitation(token)
    user_model = get_user_model()
    if user_model.objects.filter(username__iexact=username).exists():
        raise TenancyError(f"The username '{username}' is taken; choose another or sign in.")
    try:
        validate_password(password, user_model(username=username, email=invitation.email))
    except ValidationError as exc:
        raise TenancyError(" ".join(exc.messages)) from exc
    try:
        return user_model.objects.create_user(username=username, email=invitation.email, password=password)
    except IntegrityError as exc:
        raise TenancyError(f"The username '{username}' is taken; choose another or sign in.") from exc


@transaction.atomic
def revoke_invitation(invitation: Invitation, actor: Any, *, origin: Origin | None = None) -> None:
    if invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        record(
            invitation.organization_id,
            Action.INVITATION_REVOKED,
            actor=actor,
            target=invitation,
            before={"email": invitation.email},
            origin=origin,
        )


@transaction.atomic
def change_role(
    membership: Membership, actor: Any, actor_role: str, *, role: str, origin: Origin | None = None
) -> Membership:
    _check_grant(actor_role, role)
    if ROLE_RANK[Role(membership.role)] > ROLE_RANK[Role(actor_role)]:
        raise TenancyError(f"Your role '{actor_role}' cannot change the role of a member who is '{membership.role}'.")
    if (
        membership.role == Role.OWNER
        and role != Role.OWNER
        and _owners_left(membership.organization_id, membership) == 0
    ):
        raise TenancyError("An organization needs at least one owner. Make someone else owner first.")
    before = {"role": membership.role}
    membership.role = role
    membership.save(update_fields=["role"])
    record(
        membership.organization_id,
        Action.MEMBER_ROLE_CHANGED,
        actor=actor,
        target=membership.user,
        before=before,
        after={"role": role},
        origin=origin,
    )
    return membership


@transaction.atomic
def remove_member(membership: Membership, actor: Any, actor_role: str, *, origin: Origin | None = None) -> None:
    if ROLE_RANK[Role(membership.role)] > ROLE_RANK[Role(actor_role)]:
        raise TenancyError(f"Your role '{actor_role}' cannot remove a member who is '{membership.role}'.")
    if membership.role == Role.OWNER and _owners_left(membership.organization_id, membership) == 0:
        raise TenancyError("An organization needs at least one owner. Make someone else owner first.")
    record(
        membership.organization_id,
        Action.MEMBER_REMOVED,
        actor=actor,
        target=membership.user,
        before={"role": membership.role},
        origin=origin,
    )
    membership.delete()


@transaction.atomic
def create_ingest_key(
    project: Project, actor: Any, *, name: str, expires_at: datetime | None = None, origin: Origin | None = None
) -> IssuedKey:
    if expires_at is not None and expires_at <= timezone.now():
        raise TenancyError("The expiry must be in the future.")
    secret = new_secret("vik")
    key = IngestKey.objects.for_organization(project.organization_id).create(
        organization_id=project.organization_id,
        project=project,
        name=name,
        prefix=secret.prefix,
        key_hash=secret.digest,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
        expires_at=expires_at,
    )
    record(
        project.organization_id,
        Action.INGEST_KEY_CREATED,
        actor=actor,
        target=key,
        after={
            "project": project.slug,
            "prefix": key.prefix,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
        origin=origin,
    )
    return IssuedKey(key=key, plaintext=secret.plaintext)


@transaction.atomic
def revoke_ingest_key(key: IngestKey, actor: Any, *, origin: Origin | None = None) -> IngestKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        record(
            key.organization_id,
            Action.INGEST_KEY_REVOKED,
            actor=actor,
            target=key,
            before={"prefix": key.prefix},
            origin=origin,
        )
    return key


def authenticate_ingest_key(plaintext: str) -> IngestKey | None:
    """The usable key for a plaintext, or None (unknown, revoked or expired). Ingest calls this."""
    key = (
        IngestKey.objects.unscoped()  # the key is what identifies the tenant on ingest
        .select_related("project")
        .filter(key_hash=digest(plaintext))
        .first()
    )
    if key is None or not key.is_usable():
        return None
    return key
