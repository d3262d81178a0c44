"""Widget test tokens: HS256 with a test secret, RS256/ES256 keys generated with `cryptography` and served
as a JWKS by the real local HTTP server (tests/servers.py)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.servers import Reply

SECRET = "widget-test-secret-with-enough-bytes-for-hs256"
ISSUER = "https://clerk.tourbrain.test"


def claims(sub: str = "user_2abc", **extra) -> dict:
    now = int(time.time())
    return {"sub": sub, "iat": now, "nbf": now - 5, "exp": now + 60, **extra}


def hs256(payload: dict, secret: str = SECRET, headers: dict | None = None) -> str:
    return jwt.encode(payload, secret, algorithm="HS256", headers=headers)


@dataclass
class KeyPair:
    kid: str
    algorithm: str
    private_key: object

    @property
    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def jwk(self) -> dict:
        algorithm = jwt.algorithms.RSAAlgorithm if self.algorithm == "RS256" else jwt.algorithms.ECAlgorithm
        data = json.loads(algorithm.to_jwk(self.private_key.public_key()))
        return {**data, "kid": self.kid, "use": "sig", "alg": self.algorithm}

    def sign(self, payload: dict, headers: dict | None = None) -> str:
        return jwt.encode(
            payload, self.private_key, algorithm=self.algorithm, headers={"kid": self.kid, **(headers or {})}
        )


_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
_EC = ec.generate_private_key(ec.SECP256R1())


def rsa_key(kid: str = "rsa-1") -> KeyPair:
    return KeyPair(kid, "RS256", _RSA)


def ec_key(kid: str = "ec-1") -> KeyPair:
    return KeyPair(kid, "ES256", _EC)


def jwks_body(*keys: KeyPair) -> str:
    return json.dumps({"keys": [key.jwk() for key in keys]})


@pytest.fixture
def jwks(http_server, settings):
    """The JWKS (one RSA and one EC key) served by a real local HTTP server; WIDGET_JWKS_URL points at it."""
    from tourbrain_support import widget_auth

    http_server.default = Reply(200, jwks_body(rsa_key(), ec_key()), {"Content-Type": "application/json"})
    settings.WIDGET_JWKS_URL = http_server.url("/.well-known/jwks.json")
    settings.WIDGET_JWKS_COOLDOWN_SECONDS = 0.0
    widget_auth._clients.clear()
    yield http_server
    widget_auth._clients.clear()


@pytest.fixture
def widget_settings(settings):
    settings.WIDGET_JWT_SECRET = SECRET
    settings.WIDGET_JWKS_URL = ""
    settings.WIDGET_JWT_ISSUER = ""
    settings.WIDGET_JWT_AUDIENCE = ""
    settings.WIDGET_ALLOWED_ORIGINS = []
    settings.WIDGET_THROTTLE_USER = "10000/min"
    settings.WIDGET_THROTTLE_IP = "10000/min"
    from django.core.cache import cache

    from tourbrain_support import widget_auth

    cache.clear()
    widget_auth._verified.clear()  # each test verifies its tokens afresh
    return settings


def bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}
