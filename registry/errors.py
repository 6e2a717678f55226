"""Domain errors with user-facing messages; the API maps each to its status code and JSON shape."""

from __future__ import annotations


class DomainError(Exception):
    status = 400
    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class Forbidden(DomainError):
    """The actor sees the object but lacks the capability for this write."""

    status = 403
    code = "forbidden"


class NotFound(DomainError):
    """The object does not exist for the actor: missing and invisible read the same."""

    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class InvalidTransition(Conflict):
    code = "invalid_transition"


class StaleState(Conflict):
    """Another actor moved the object first; re-read and try again."""

    code = "stale_state"


class DigestMismatch(DomainError):
    """Uploaded bytes are not the ones declared: the server's hash is the truth."""

    status = 422
    code = "digest_mismatch"


class UpstreamFailed(DomainError):
    """A service the registry relies on (the Hub) failed or refused; nothing was recorded."""

    status = 502
    code = "upstream_failed"


class QuotaExceeded(DomainError):
    status = 413
    code = "quota_exceeded"
