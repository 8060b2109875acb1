"""Security headers Django's SecurityMiddleware does not set: Content-Security-Policy and
Permissions-Policy.

App pages get a policy that lets the workspace run (its own scripts, WebAssembly decoders and
blob: workers for Cornerstone3D, blob:/data: images, OpenSeadragon tiles from the API) and
nothing from other origins. Scripts served from STATIC_URL get the same policy without a nonce:
a dedicated worker (Cornerstone's DICOM decoder, `new Worker(new URL(..., import.meta.url))`)
runs under the policy of its own script's response, and it fetches and compiles the WebAssembly
codecs. Every other response (JSON, PNG, DICOM, CSS, .wasm) gets a locked-down policy: if such a
file is opened directly in a browser it can neither run script nor be framed.

Inline scripts run only with the request's nonce: `<script nonce="{{ request.csp_nonce }}">`
(the `request` context processor is on), so an injected script tag never runs.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

PAGE_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'wasm-unsafe-eval'",
        "worker-src 'self' blob:",
        "img-src 'self' data: blob:",
        # OpenSeadragon and Cornerstone set inline styles on the elements they create.
        "style-src 'self' 'unsafe-inline'",
        "connect-src 'self'",
        "font-src 'self' data:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
# The Swagger page (/api/docs/) loads Swagger UI from drf-spectacular-sidecar's local copy under
# STATIC_URL and its start-up script from /api/docs/?script= (the split view): nothing inline,
# nothing from another origin, so it runs under the app pages' policy (without a nonce).
DOCS_CSP = PAGE_CSP
FILE_CSP = "default-src 'none'; frame-ancestors 'none'; sandbox"
# Media types under which browsers run a response as a (worker) script.
SCRIPT_TYPES = ("text/javascript", "application/javascript", "application/x-javascript")
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"


class SecurityHeadersMiddleware:
    """Adds Content-Security-Policy and Permissions-Policy unless a view already set them."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.csp_nonce = secrets.token_urlsafe(16)  # type: ignore[attr-defined]
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = csp_for(request, response)
        response.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response


def csp_for(request: HttpRequest, response: HttpResponse) -> str:
    content_type = response.get("Content-Type", "")
    if content_type.startswith(SCRIPT_TYPES) and request.path.startswith(settings.STATIC_URL):
        return settings.SENOLAB_CSP or PAGE_CSP  # the workers' policy
    if not content_type.startswith("text/html"):
        return FILE_CSP
    if request.path.startswith(settings.SENOLAB_CSP_DOCS_PREFIX):
        return DOCS_CSP
    policy = settings.SENOLAB_CSP or PAGE_CSP
    nonce = getattr(request, "csp_nonce", "")
    if nonce and "script-src 'self'" in policy:
        policy = policy.replace("script-src 'self'", f"script-src 'self' 'nonce-{nonce}'", 1)
    return policy
