"""Projects (only those the caller belongs to), their members, and API tokens.

Reading a project needs the viewer role, changing it or its members the owner role; a project
the caller is not a member of does not exist for them (404).
"""

from __future__ import annotations

from typing import cast

from django.contrib.auth import authenticate
from django.db.models import OuterRef, ProtectedError, QuerySet, RestrictedError, Subquery
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed, NotFound, ValidationError
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from senolab.api.errors import Conflict
from senolab.audit import services as audit
from senolab.projects.api.serializers import (
    MembershipSerializer,
    ProjectSerializer,
    TokenRequestSerializer,
    TokenSerializer,
)
from senolab.projects.models import Membership, Project, Role
from senolab.projects.permissions import (
    ProjectRolePermission,
    filter_by_project,
    require_role,
)

ERRORS = {
    400: OpenApiResponse(description="Invalid input; error.detail says which field and why."),
    401: OpenApiResponse(description="Not logged in."),
    403: OpenApiResponse(description="Your role in the project does not allow this."),
    404: OpenApiResponse(description="No such object in your projects."),
}


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    return {code: ERRORS[code] for code in codes}


@extend_schema_view(
    list=extend_schema(responses={200: ProjectSerializer(many=True), **errors(401)}),
    create=extend_schema(responses={201: ProjectSerializer, **errors(400, 401)}),
    retrieve=extend_schema(responses={200: ProjectSerializer, **errors(401, 404)}),
    update=extend_schema(responses={200: ProjectSerializer, **errors(400, 401, 403, 404)}),
    partial_update=extend_schema(responses={200: ProjectSerializer, **errors(400, 401, 403, 404)}),
    destroy=extend_schema(
        responses={
            204: None,
            **errors(401, 403, 404),
            409: OpenApiResponse(description="Records that must be kept block the deletion."),
        }
    ),
)
class ProjectViewSet(viewsets.ModelViewSet):
    """Projects the caller is a member of; whoever creates one becomes its owner."""

    serializer_class = ProjectSerializer
    permission_classes = [IsAuthenticated, ProjectRolePermission]
    read_role = Role.VIEWER
    write_role = Role.OWNER
    lookup_value_regex = r"[0-9]{1,10}"
    filterset_fields: list[str] = []
    ordering_fields = ["name", "created_at"]

    def perform_destroy(self, instance: Project) -> None:
        try:
            instance.delete()
        except (ProtectedError, RestrictedError) as exc:
            # Rows other apps keep on purpose (e.g. training snapshots) block the deletion.
            raise Conflict(
                "This project still has records that must be kept (such as training runs); "
                "remove them first."
            ) from exc

    def get_queryset(self) -> QuerySet[Project]:
        user = self.request.user
        role = Membership.objects.filter(project=OuterRef("pk"), user=user.pk).values("role")[:1]
        qs = Project.objects.annotate(my_role=Subquery(role))
        return filter_by_project(qs, user, field="pk")


class ProjectMixin:
    """The project named by the URL, checked for the role this request needs."""

    request: Request
    kwargs: dict

    def project(self, minimum: str) -> Project:
        project = Project.objects.filter(pk=self.kwargs["project_pk"]).first()
        if project is None:
            raise NotFound("No such project.")
        require_role(self.request.user, project, minimum)
        return project


@extend_schema_view(
    list=extend_schema(responses={200: MembershipSerializer(many=True), **errors(401, 404)}),
    create=extend_schema(responses={201: MembershipSerializer, **errors(400, 401, 403, 404)}),
    retrieve=extend_schema(responses={200: MembershipSerializer, **errors(401, 404)}),
    update=extend_schema(responses={200: MembershipSerializer, **errors(400, 401, 403, 404)}),
    partial_update=extend_schema(
        responses={200: MembershipSerializer, **errors(400, 401, 403, 404)}
    ),
    destroy=extend_schema(responses={204: None, **errors(400, 401, 403, 404)}),
)
class MembershipViewSet(ProjectMixin, viewsets.ModelViewSet):  # type: ignore[misc]  # DRF Request
    """Members of a project and their roles: members may read, owners manage."""

    serializer_class = MembershipSerializer
    permission_classes = [IsAuthenticated]
    lookup_value_regex = r"[0-9]{1,10}"
    queryset = Membership.objects.none()
    filterset_fields: list[str] = []

    def initial(self, request: Request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        # The project is checked before anything in the body is looked at, so an outsider
        # learns nothing from validation errors.
        minimum = Role.VIEWER if request.method in ("GET", "HEAD", "OPTIONS") else Role.OWNER
        self.checked_project = self.project(minimum)

    def get_queryset(self) -> QuerySet[Membership]:
        if getattr(self, "swagger_fake_view", False):
            return Membership.objects.none()
        return (
            Membership.objects.filter(project=self.checked_project)
            .select_related("user")
            .order_by("id")
        )

    def get_serializer_context(self) -> dict:
        context = dict(super().get_serializer_context())
        context["project"] = getattr(self, "checked_project", None)
        return context

    def perform_create(self, serializer: BaseSerializer) -> None:
        serializer.save(project=self.checked_project)
        audit.record_member_added(self.request, cast(Membership, serializer.instance))

    def _last_owner_guard(self, membership: Membership, new_role: str | None) -> None:
        # A project without an owner could never be managed again.
        if membership.role == Role.OWNER and new_role != Role.OWNER:
            owners = Membership.objects.filter(project=membership.project_id, role=Role.OWNER)
            if owners.count() <= 1:
                raise ValidationError({"role": ["A project keeps at least one owner."]})

    def perform_update(self, serializer: BaseSerializer) -> None:
        membership = cast(Membership, serializer.instance)
        self._last_owner_guard(membership, serializer.validated_data.get("role"))
        audit.record_role_change(self.request, membership, serializer.validated_data.get("role"))
        serializer.save()

    def perform_destroy(self, instance: Membership) -> None:
        self._last_owner_guard(instance, None)
        audit.record_member_removed(self.request, instance)
        instance.delete()


class TokenView(APIView):
    """Exchange a username and password for an API token (throttled per client)."""

    permission_classes = [AllowAny]
    # Token authentication first, so that a wrong password answers 401 with WWW-Authenticate (as
    # the schema says), not the 403 DRF gives when the first authenticator is the session's; the
    # session's stays, so a browser session's POST here still needs the CSRF token.
    authentication_classes = [TokenAuthentication, SessionAuthentication]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "login"

    @extend_schema(
        request=TokenRequestSerializer,
        responses={
            200: TokenSerializer,
            400: ERRORS[400],
            401: OpenApiResponse(description="Wrong username or password."),
            429: OpenApiResponse(description="Too many attempts; try again later."),
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        data = TokenRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(
            request=request._request,
            username=data.validated_data["username"],
            password=data.validated_data["password"],
        )
        if user is None or not user.is_active:
            raise AuthenticationFailed("Wrong username or password.")
        audit.record_token_login(request, user)
        token, _ = Token.objects.get_or_create(user=user)
        return Response(TokenSerializer({"token": token.key}).data, status=status.HTTP_200_OK)
