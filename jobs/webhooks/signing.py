"""How deliveries are signed: HMAC-SHA256 with the webhook's secret over `<timestamp>.<body>`,
sent as `Consortium-Signature: t=<unix seconds>,v1=<hex digest>`.

The timestamp is signed so a captured delivery cannot be replayed later: receivers refuse a
signature older than a few minutes. docs/webhooks.md shows receivers how to verify one.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "Consortium-Signature"
EVENT_HEADER = "Consortium-Event"  # the event's id: the same for every delivery and replay of it
DELIVERY_HEADER = "Consortium-Delivery"  # this delivery's id
TYPE_HEADER = "Consortium-Event-Type"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"
