"""One JSON error shape for the whole API:

    {"error": {"status": 400, "code": "invalid", "message": "number: …", "fields": {"number": ["…"]}}}

`fields` names every offending field (nested ones as `compute.gpu_hours` or `lineage[1].relation`).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from registry.errors import DomainError


def error_body(status_code: int, code: str, message: str, fields: dict[str, list[str]] | None = None) -> dict[str, Any]:
    return {"error": {"status": status_code, "code": code, "message": message, "fields": fields or {}}}


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error details as {"a.b[0].c": [messages]} (list items come keyed by index)."""
    if isinstance(detail, list) and any(isinstance(item, dict | list) for item in detail):
        detail = {i: item for i, item in enumerate(detail) if item}
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            if isinstance(key, int):
                name = f"{prefix}[{key}]"
            elif key == "non_field_errors":
                name = prefix
            else:
                name = f"{prefix}.{key}" if prefix else key
            out.update(_flatten(value, name))
        return out
    messages = [str(m) for m in (detail if isinstance(detail, list) else [detail])]
    return {prefix or "request": messages}


def _message(fields: dict[str, list[str]]) -> str:
    return "; ".join(f"{name}: {' '.join(messages)}" for name, messages in fields.items())


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        fields = {exc.field: [exc.message]} if exc.field else {}
        body = error_body(exc.status, exc.code, exc.message, fields)
        status_code = exc.status
    elif isinstance(exc, DjangoValidationError):
        fields = _flatten(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
        status_code = status.HTTP_400_BAD_REQUEST
        body = error_body(status_code, "invalid", _message(fields), fields)
    elif isinstance(exc, Http404 | exceptions.NotFound):
        status_code = status.HTTP_404_NOT_FOUND
        body = error_body(status_code, "not_found", "not found")
    elif isinstance(exc, DjangoPermissionDenied):
        status_code = status.HTTP_403_FORBIDDEN
        body = error_body(status_code, "forbidden", str(exc) or "forbidden")
    elif isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        status_code = exc.status_code
        body = error_body(status_code, "invalid", _message(fields), fields)
    elif isinstance(exc, exceptions.PermissionDenied):  # the same code whether the policy or a service refused
        status_code = exc.status_code
        body = error_body(status_code, "forbidden", str(exc.detail))
    elif isinstance(exc, exceptions.APIException):
        status_code = exc.status_code
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
        body = error_body(status_code, str(code), str(exc.detail))
    else:
        return None  # a server error: Django's handler500 answers in the same shape
    set_rollback()
    response = Response(body, status=status_code)
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        response["WWW-Authenticate"] = 'Bearer realm="consortium"'
    wait = getattr(exc, "wait", None)  # set on Throttled
    if isinstance(exc, exceptions.Throttled) and wait:
        response["Retry-After"] = str(int(wait))
    return response


def json_not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body(404, "not_found", f"no such route: {request.path}"), status=404)


def json_server_error(request: HttpRequest) -> JsonResponse:
    return JsonResponse(error_body(500, "server_error", "internal error; it has been logged"), status=500)
