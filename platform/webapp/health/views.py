from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from webapp.health import checks, metrics
from webapp.lib.errors import json_error


@never_cache
def healthz(request):
    statuses = checks.everything()
    down = [name for name, status in statuses.items() if not status.ok]
    body = {
        "status": "down" if down else "ok",
        "down": down,
        "checks": {name: status.to_dict() for name, status in statuses.items()},
    }
    return JsonResponse(body, status=503 if down else 200)


@never_cache
def worker_badge(request):
    """The header's indicator: empty while a worker is alive, a warning when none is."""
    redis_status = checks.broker()
    status = checks.workers() if redis_status.ok else redis_status
    return render(request, "health/_worker_badge.html", {"status": status})


@never_cache
def prometheus(request):
    """``/metrics`` in Prometheus text format, for the bearer of ``METRICS_TOKEN``."""
    allowed = metrics.allowed(request.headers.get("Authorization", ""))
    if allowed is None:
        return json_error(404, "Metrics are off: set METRICS_TOKEN on the server to turn them on.")
    if not allowed:
        message = "Send the metrics token: 'Authorization: Bearer <METRICS_TOKEN>'."
        return json_error(401, message, WWW_Authenticate="Bearer")
    body, content_type = metrics.exposition()
    return HttpResponse(body, content_type=content_type)
