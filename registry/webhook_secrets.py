"""Webhook signing secrets: made here, shown once, stored encrypted with WEBHOOK_SECRETS_KEY.

Signing needs the secret itself, so unlike an API token it cannot be kept as a digest. Fernet
(AES-CBC with an HMAC) keeps a database dump from holding usable secrets. The key is derived from
WEBHOOK_SECRETS_KEY (by default from DJANGO_SECRET_KEY); secrets stored under the keys of
WEBHOOK_SECRETS_KEY_FALLBACKS still decrypt, so the key can be rotated without breaking webhooks.
"""

from __future__ import annotations

import base64
import hashlib
import secrets

from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings

PREFIX = "whsec_"


def _fernet() -> MultiFernet:
    keys = [settings.WEBHOOK_SECRETS_KEY, *settings.WEBHOOK_SECRETS_KEY_FALLBACKS]
    return MultiFernet([Fernet(base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest())) for key in keys])


def secret_new() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def secret_encrypt(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def secret_decrypt(stored: str) -> str:
    return _fernet().decrypt(stored.encode()).decode()
