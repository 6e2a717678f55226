"""Webhook signing secrets: made here, shown once, stored encrypted with WEBHOOK_SECRETS_KEY.

Signing needs the secret itself, so unlike an API token it cannot be kept as a digest. Fernet
(AES-CBC with an HMAC) keeps a database dump from holding usable secrets.
"""

from __future__ import annotations

import base64
import hashlib
import secrets

from cryptography.fernet import Fernet
from django.conf import settings

PREFIX = "whsec_"


def _fernet() -> Fernet:
    key = hashlib.sha256(settings.WEBHOOK_SECRETS_KEY.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def secret_new() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def secret_encrypt(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def secret_decrypt(stored: str) -> str:
    return _fernet().decrypt(stored.encode()).decode()
