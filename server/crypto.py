"""Secrets at rest (SMTP passwords, OAuth refresh tokens) are encrypted with Fernet.

The key is ``ENCRYPTION_KEY`` (a Fernet key); without one it is derived from ``SECRET_KEY``
so a development install works, and the README tells production to set its own.
"""
from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet
from flask import current_app


def fernet_for(config: dict) -> Fernet:
    key = config.get("ENCRYPTION_KEY")
    if not key:
        key = base64.urlsafe_b64encode(hashlib.sha256(config["SECRET_KEY"].encode()).digest()).decode()
    return Fernet(key)


def encrypt(value: str) -> str:
    return fernet_for(current_app.config).encrypt(value.encode()).decode()


def decrypt(value: str, config: dict | None = None) -> str:
    return fernet_for(config or current_app.config).decrypt(value.encode()).decode()
