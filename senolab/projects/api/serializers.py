"""Projects and their members as the API shows them."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from senolab.audit import services as audit
from senolab.projects.api.clinical import validate_clinical_schema
from senolab.projects.models import Membership, Project, Role
from senolab.projects.schema import LabelSchemaError, validate_label_schema


class ProjectSerializer(serializers.ModelSerializer):
    """A project with its label and clinical schemas, and the caller's role in it."""

    role = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = [
            "id",
            "name",
            "slug",
            "description",
            "label_schema",
            "clinical_schema",
            "hide_reference",
            "blind_first_read",
            "private_reads",
            "preannotate_on_ingest",
            "adjudication_rules",
            "rejection_reasons",
            "created_at",
            "role",
        ]
        read_only_fields = ["id", "created_at", "role"]
        extra_kwargs = {"rejection_reasons": {"required": False}}

    def validate_rejection_reasons(self, value):
        if not isinstance(value, list) or not all(
            isinstance(v, str) and v.strip() and len(v) <= 200 for v in value
        ):
            raise serializers.ValidationError(
                "A list of reasons, each a non-empty text of at most 200 characters."
            )
        return [v.strip() for v in value]

    def validate_adjudication_rules(self, value: Any) -> dict[str, float]:
        # The keys are annotations.adjudication's (the core does not import it); a wrong key
        # is ignored there, a wrong value is refused here.
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, int | float) and not isinstance(v, bool)
            for k, v in value.items()
        ):
            raise serializers.ValidationError(
                'An object of numbers, e.g. {"birads_difference": 2}.'
            )
        return value

    @extend_schema_field(serializers.ChoiceField(choices=Role.choices, allow_null=True))
    def get_role(self, project: Project) -> str | None:
        # The list view annotates the role; fall back to a query for single objects.
        role = getattr(project, "my_role", None)
        if role is None:
            from senolab.projects.permissions import role_of

            role = role_of(self.context["request"].user, project)
        return role

    def validate_label_schema(self, value: Any) -> Any:
        try:
            return validate_label_schema(value)
        except LabelSchemaError as exc:
            raise serializers.ValidationError(str(exc)) from exc

    def validate_clinical_schema(self, value: Any) -> Any:
        try:
            return validate_clinical_schema(value)
        except LabelSchemaError as exc:
            raise serializers.ValidationError(str(exc)) from exc

    def create(self, validated_data: dict[str, Any]) -> Project:
        user = self.context["request"].user
        with transaction.atomic():
            project = Project.objects.create(created_by=user, **validated_data)
            owner = Membership.objects.create(project=project, user=user, role=Role.OWNER)
            audit.record_member_added(self.context["request"], owner)
        return project


class MembershipSerializer(serializers.ModelSerializer):
    """A member of a project: who (by username) and in which role."""

    username = serializers.SlugRelatedField(
        source="user",
        slug_field="username",
        queryset=get_user_model().objects.all(),
        error_messages={"does_not_exist": "Nobody is registered as “{value}”."},
    )

    class Meta:
        model = Membership
        fields = ["id", "username", "role", "created_at"]
        read_only_fields = ["id", "created_at"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        project = self.context["project"]
        user = attrs.get("user")
        if user is not None and self.instance is None:
            if Membership.objects.filter(project=project, user=user).exists():
                raise serializers.ValidationError({"username": ["Already a member."]})
        return attrs


class TokenRequestSerializer(serializers.Serializer):
    """Credentials exchanged for an API token."""

    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"}, write_only=True)


class TokenSerializer(serializers.Serializer):
    """The API token: send it as `Authorization: Token <token>`."""

    token = serializers.CharField()
