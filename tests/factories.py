"""Factories for the tenancy fixtures (factory_boy). Tenant rows are created with an explicit organization."""

from __future__ import annotations

import functools
from typing import Any

import factory
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password

from apps.tenants.models import Membership, Organization, Project

PASSWORD = "correct horse battery staple"


def _password_hash() -> str:
    return _hash_under(tuple(settings.PASSWORD_HASHERS))


@functools.cache
def _hash_under(hashers: tuple[str, ...]) -> str:
    """One hash of PASSWORD per hasher setting for every test user: the production hasher is slow on purpose
    (~45 ms, tuned for sign-ins) and every tenant fixture makes four users; sign-ins still verify it for real."""
    return make_password(PASSWORD)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.LazyFunction(_password_hash)


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Org {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")


class _TenantFactory(factory.django.DjangoModelFactory):
    """Tenant managers refuse unscoped queries, so rows are created through ``unscoped()``."""

    class Meta:
        abstract = True

    @classmethod
    def _create(cls, model_class: Any, *args: Any, **kwargs: Any) -> Any:
        return model_class.objects.unscoped().create(*args, **kwargs)


class ProjectFactory(_TenantFactory):
    class Meta:
        model = Project

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Project {n}")
    slug = factory.Sequence(lambda n: f"project-{n}")


class MembershipFactory(_TenantFactory):
    class Meta:
        model = Membership

    organization = factory.SubFactory(OrganizationFactory)
    user = factory.SubFactory(UserFactory)
    role = "viewer"
