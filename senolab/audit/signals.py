"""Log-ins and failed log-ins, from Django's own signals (whichever view authenticated)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from senolab.audit import services
from senolab.audit.models import AuditAction


@receiver(user_logged_in, dispatch_uid="audit-login")
def record_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    services.record(AuditAction.LOGIN, request=request, actor=user)


@receiver(user_login_failed, dispatch_uid="audit-login-failed")
def record_login_failed(sender: Any, credentials: dict, request: Any = None, **kwargs: Any) -> None:
    # Django has already masked the password in `credentials`; only the name tried is kept.
    username = str(credentials.get("username") or "")[:150]
    services.record(AuditAction.LOGIN_FAILED, request=request, detail={"username": username})
