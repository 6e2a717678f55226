"""Bearer-token authentication for the API: `Authorization: Bearer ocr_…`."""

from __future__ import annotations

from typing import Any

import structlog
from django.utils.functional import SimpleLazyObject
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from registry.services.tokens import token_authenticate, token_touch


def bearer_secret(header: bytes) -> str | None:
    """The raw token of an `Authorization: Bearer …` header, '' when empty, None for other schemes."""
    scheme, _, raw = header.decode("latin-1").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return raw.strip()


class BearerTokenAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        raw = bearer_secret(get_authorization_header(request))
        if raw is None:
            return None
        if not raw:
            raise AuthenticationFailed("empty bearer token")
        token, reason = token_authenticate(raw)
        if token is None:
            raise AuthenticationFailed(reason)
        token_touch(token)
        structlog.contextvars.bind_contextvars(token=str(token.public_id), org_id=token.organization_id)
        # The user row loads only if something reads it; reads need just the token's role.
        return SimpleLazyObject(lambda: token.created_by), token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="consortium"'
