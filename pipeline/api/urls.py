"""URLs of the JSON API: ninja's routes, with Django's plain-text 404 and 405 answers made JSON."""

from __future__ import annotations

from functools import wraps

from django.http import HttpRequest, JsonResponse
from django.urls import re_path

from pipeline.api.views import api


def _json_method_not_allowed(view):
    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if response.status_code == 405 and "json" not in response.get("Content-Type", ""):
            allowed = response.get("Allow", "")
            return JsonResponse(
                {
                    "error": "method_not_allowed",
                    "reason": f"{request.method} is not allowed here; allowed: {allowed}",
                    "details": [],
                },
                status=405,
                headers={"Allow": allowed},
            )
        return response

    return wrapped


def not_found(request: HttpRequest, rest: str = "") -> JsonResponse:
    return JsonResponse(
        {
            "error": "not_found",
            "reason": "no such endpoint; the endpoints are listed in /api/v1/openapi.json",
            "details": [],
        },
        status=404,
    )


patterns, app_name, namespace = api.urls
for pattern in patterns:
    if pattern.name == "api-root":
        # ninja's root page is its docs, which we do not serve (they load assets from a CDN);
        # the route stays because the OpenAPI document takes the API's base path from it.
        pattern.callback = not_found
    else:
        pattern.callback = _json_method_not_allowed(pattern.callback)

urlpatterns = [*patterns, re_path(r"^(?P<rest>.*)$", not_found, name="not_found")]
