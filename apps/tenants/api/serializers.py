from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.tenants.models import IngestKey, Invitation, Membership, Organization, Project
from apps.tenants.roles import Role


class OrganizationSerializer(serializers.ModelSerializer[Organization]):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Organization
        fields = ["slug", "name", "created_at", "role"]
        read_only_fields = ["slug", "created_at", "role"]

    def get_role(self, obj: Organization) -> str | None:
        roles: dict[int, str] = self.context.get("roles", {})
        return roles.get(obj.pk)


class ProjectSerializer(serializers.ModelSerializer[Project]):
    slug = serializers.SlugField(max_length=50, required=False)

    class Meta:
        model = Project
        fields = ["id", "slug", "name", "created_at"]
        read_only_fields = ["id", "created_at"]


class ProjectUpdateSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=100)


class MembershipSerializer(serializers.ModelSerializer[Membership]):
    username = serializers.CharField(source="user.username", read_only=True)
    email = serializers.EmailField(source="user.email", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "username", "email", "role", "created_at"]
        read_only_fields = ["id", "username", "email", "created_at"]


class RoleSerializer(serializers.Serializer[Any]):
    role = serializers.ChoiceField(choices=Role.choices)


class InvitationSerializer(serializers.ModelSerializer[Invitation]):
    class Meta:
        model = Invitation
        fields = ["id", "email", "role", "created_at", "expires_at", "accepted_at", "revoked_at"]
        read_only_fields = ["id", "created_at", "expires_at", "accepted_at", "revoked_at"]


class IngestKeySerializer(serializers.ModelSerializer[IngestKey]):
    class Meta:
        model = IngestKey
        fields = ["id", "name", "prefix", "created_at", "expires_at", "revoked_at", "last_used_at"]
        read_only_fields = ["id", "prefix", "created_at", "revoked_at", "last_used_at"]


class IssuedIngestKeySerializer(IngestKeySerializer):
    key = serializers.CharField(read_only=True, help_text="The secret. Shown in this response only.")

    class Meta(IngestKeySerializer.Meta):
        fields = [*IngestKeySerializer.Meta.fields, "key"]
