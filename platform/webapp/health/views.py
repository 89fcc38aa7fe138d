from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from webapp.health import checks


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
