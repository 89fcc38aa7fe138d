"""Liveness, answered before anything else looks at the request."""

from django.http import HttpResponse


class Liveness:
    """Middleware, first in the stack: ``/livez`` answers "ok" as long as the process serves.

    It runs before the host check (and the HTTPS redirect), so a container's healthcheck can
    ask ``http://127.0.0.1:8000/livez`` whatever ``ALLOWED_HOSTS`` says. It reads nothing and
    tells nothing; ``/healthz`` reports the database, Redis and the workers.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path == "/livez":
            return HttpResponse("ok", content_type="text/plain")
        return self.get_response(request)
