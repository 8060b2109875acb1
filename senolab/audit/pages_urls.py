"""Browser page of the audit app."""

from django.urls import path

from senolab.audit import views

urlpatterns = [path("audit/", views.audit_log, name="audit-log")]
