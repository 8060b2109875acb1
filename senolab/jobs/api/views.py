from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from senolab.jobs import services
from senolab.jobs.api.serializers import JobSerializer
from senolab.jobs.models import Job
from senolab.projects.models import Role
from senolab.projects.permissions import filter_by_project, require_role


class JobFilter(filters.FilterSet):
    class Meta:
        model = Job
        fields = ["project", "kind", "status"]


class JobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The one polling resource for long work: status, progress 0..1, message, result, error."""

    serializer_class = JobSerializer
    filterset_class = JobFilter

    def get_queryset(self):
        user = self.request.user
        own = (
            Job.objects.filter(project__isnull=True, created_by=user)
            if user.is_authenticated
            else Job.objects.none()
        )
        if user.is_authenticated and user.is_staff:
            return Job.objects.select_related("created_by").all()
        return (filter_by_project(Job.objects.all(), user) | own).select_related("created_by")

    @extend_schema(request=None, responses=JobSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        job = self.get_object()
        if job.project_id:
            require_role(request.user, job.project_id, Role.ANNOTATOR)
        return Response(JobSerializer(services.request_cancel(job)).data)
