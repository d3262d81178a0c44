"""The Ed25519 key that signs audit checkpoints; it never lives in the database.

The private key comes from AUDIT_SIGNING_KEY (base64 of the raw 32-byte seed) or, when unset, from a key
file in DATA_DIR created on first use with mode 0600. Old public keys stay trusted for verification
through AUDIT_VERIFY_PUBLIC_KEYS (base64 raw public keys).
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings

KEY_FILE_NAME = "audit-signing.key"


def _key_file() -> Path:
    return Path(settings.DATA_DIR) / KEY_FILE_NAME


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id_of(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()[:16]


def _load_or_create_seed() -> bytes:
    configured = getattr(settings, "AUDIT_SIGNING_KEY", "") or ""
    if configured:
        seed = base64.b64decode(configured)
        if len(seed) != 32:
            raise ValueError("AUDIT_SIGNING_KEY must be base64 of a raw 32-byte Ed25519 seed.")
        return seed
    path = _key_file()
    try:
        return base64.b64decode(path.read_bytes().strip())
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    seed = os.urandom(32)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its key
        return base64.b64decode(path.read_bytes().strip())
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(base64.b64encode(seed) + b"\n")
    return seed


def signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(_load_or_create_seed())


def public_key_b64() -> str:
    return base64.b64encode(_raw_public(signing_key().public_key())).decode()


def current_key_id() -> str:
    return key_id_of(_raw_public(signing_key().public_key()))


def sign(message: bytes) -> tuple[str, str]:
    """(key id, base64 signature) of the message."""
    key = signing_key()
    return key_id_of(_raw_public(key.public_key())), base64.b64encode(key.sign(message)).decode()


def trusted_public_keys() -> dict[str, Ed25519PublicKey]:
    keys = {}
    current = signing_key().public_key()
    keys[key_id_of(_raw_public(current))] = current
    for encoded in getattr(settings, "AUDIT_VERIFY_PUBLIC_KEYS", []) or []:
        raw = base64.b64decode(encoded)
        keys[key_id_of(raw)] = Ed25519PublicKey.from_public_bytes(raw)
    return keys


def signature_valid(*, key_id: str, message: bytes, signature_b64: str, keys: dict | None = None) -> bool:
    key = (keys if keys is not None else trusted_public_keys()).get(key_id)
    if key is None:
        return False
    try:
        key.verify(base64.b64decode(signature_b64), message)
    except (InvalidSignature, ValueError):
        return False
    return True
