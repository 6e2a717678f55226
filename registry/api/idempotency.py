"""`Idempotency-Key` on every API POST: a retried request gets the first answer instead of a second write.

Scoped to the actor: the same actor, key and body replay the stored response; the same key with
another body is 422; another actor's key is never looked up. A key whose first request is still
running answers 409, so two concurrent retries cannot both write. A response marked
`Cache-Control: no-store` (an issued token's secret) is never stored: its retry is told the work
was done (409) instead of being shown the secret again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta

from django.contrib.auth.models import AnonymousUser
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

from registry.api.authentication import bearer_secret
from registry.api.errors import error_body
from registry.models import IdempotencyRecord
from registry.services.tokens import token_authenticate

# A first request that crashed without answering frees its key after this long.
STALE_AFTER = timedelta(minutes=5)
# Refusals that say nothing about the request itself are not remembered.
NOT_STORED = {401, 403, 429}


def _actor_key(request: HttpRequest) -> str | None:
    raw = bearer_secret(request.META.get("HTTP_AUTHORIZATION", "").encode("latin-1"))
    if raw is not None:
        token, _ = token_authenticate(raw) if raw else (None, "")
        return f"token:{token.pk}" if token else None
    user = getattr(request, "user", AnonymousUser())
    return f"user:{user.pk}" if user.is_authenticated else None


SECRET_WITHHELD = json.dumps(
    error_body(
        409,
        "idempotency_secret_withheld",
        "the request with this Idempotency-Key already succeeded; its answer held a secret that is shown "
        "only once, so it is not repeated",
    )
).encode()


def _replay(record: IdempotencyRecord) -> HttpResponse:
    response = HttpResponse(bytes(record.body), status=record.status_code, content_type=record.content_type)
    if record.location:
        response["Location"] = record.location
    response["Idempotent-Replayed"] = "true"
    return response


class IdempotencyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or key is None or not request.path.startswith("/api/"):
            return self.get_response(request)
        if not key or len(key) > 255 or not key.isascii():
            return JsonResponse(
                error_body(
                    400,
                    "invalid",
                    "Idempotency-Key must be 1-255 ASCII characters",
                    {"Idempotency-Key": ["1-255 ASCII characters"]},
                ),
                status=400,
            )
        actor_key = _actor_key(request)
        if actor_key is None:  # unauthenticated: the view refuses it anyway
            return self.get_response(request)
        digest = hashlib.sha256(b"\n".join([b"POST", request.path.encode(), request.body])).hexdigest()

        record, created = self._claim(actor_key, key, digest)
        if not created:
            if record.request_digest != digest:
                return JsonResponse(
                    error_body(
                        422,
                        "idempotency_key_reused",
                        "this Idempotency-Key was used with a different request; use a new key",
                        {"Idempotency-Key": ["already used with another request body or path"]},
                    ),
                    status=422,
                )
            if record.status_code is None:
                return JsonResponse(
                    error_body(
                        409,
                        "idempotency_in_progress",
                        "the first request with this Idempotency-Key is still running; retry shortly",
                    ),
                    status=409,
                )
            return _replay(record)

        try:
            response = self.get_response(request)
        except BaseException:
            record.delete()
            raise
        if response.status_code >= 500 or response.status_code in NOT_STORED or getattr(response, "streaming", False):
            record.delete()  # the client may retry with the same key
            return response
        record.location = response.get("Location", "")
        if "no-store" in response.get("Cache-Control", ""):
            record.status_code, record.content_type = 409, "application/json"
            record.body = SECRET_WITHHELD
        else:
            record.status_code = response.status_code
            record.content_type = response.get("Content-Type", "application/json")
            record.body = response.content
        record.save(update_fields=["status_code", "content_type", "body", "location"])
        return response

    @staticmethod
    def _claim(actor_key: str, key: str, digest: str) -> tuple[IdempotencyRecord, bool]:
        """Insert the in-progress record, or return the existing one. The unique constraint
        on (actor, key) makes exactly one of two concurrent first requests win."""
        for _ in range(2):
            try:
                with transaction.atomic():
                    return IdempotencyRecord.objects.create(actor_key=actor_key, key=key, request_digest=digest), True
            except IntegrityError:
                record = IdempotencyRecord.objects.filter(actor_key=actor_key, key=key).first()
                if record is None:
                    continue  # deleted meanwhile; try again
                if record.status_code is None and record.created_at < timezone.now() - STALE_AFTER:
                    IdempotencyRecord.objects.filter(pk=record.pk, status_code__isnull=True).delete()
                    continue
                return record, False
        raise RuntimeError("could not claim the idempotency key")
