"""What the platform tells browsers to refuse, and who a request comes from.

Every page may run script, load styles and images only from this server: no inline script,
so text from an upload that slipped past escaping still could not run. Styles may be inline
(the charts size their bars with ``style``), which runs nothing.
"""

from __future__ import annotations

from django.conf import settings

POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class ContentSecurityPolicy:
    """Middleware: the ``Content-Security-Policy`` header on every answer."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", POLICY)
        return response


def client_address(request) -> str:
    """The address a request comes from. Behind the proxy that ``BEHIND_PROXY`` declares, the
    last address in ``X-Forwarded-For`` (the one the proxy added); otherwise the peer's, since
    any client can write that header."""
    if settings.BEHIND_PROXY:
        forwarded = request.headers.get("X-Forwarded-For", "")
        last = forwarded.rsplit(",", 1)[-1].strip()
        if last:
            return last
    return request.META.get("REMOTE_ADDR", "")
