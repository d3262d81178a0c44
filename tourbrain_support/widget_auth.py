"""Widget API authentication: `Authorization: Bearer <JWT>` minted by TourBrain's backend or its auth
provider (Clerk session tokens work as issued), never a user id or email sent by the browser.

- HS256 with WIDGET_JWT_SECRET; RS256/ES256 with the keys of WIDGET_JWKS_URL, fetched by PyJWT's
  PyJWKClient (cached, refetched once on an unknown `kid` outside a cooldown, with a timeout).
- `exp` and `sub` are required; `nbf`/`iat` honoured; WIDGET_JWT_LEEWAY_SECONDS of clock skew allowed;
  `iss` must equal WIDGET_JWT_ISSUER when set, `aud` WIDGET_JWT_AUDIENCE when set, and `azp` (Clerk's
  authorized party) must be one of WIDGET_ALLOWED_ORIGINS when both are present.
- Every refusal is a 401 whose error code says why (`token_expired`, `alg_not_allowed`, ...).
- The verified profile claims create or update the customer (`tourbrain_support.identities`).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import jwt
from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions, status
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from tourbrain_support.identities import ClaimError, StaffAccountError, customer_from_claims
from tourbrain_support.models import ExternalIdentity

# Clerk session tokens are 1-2 KB; anything near this is not a token we issued.
MAX_TOKEN_BYTES = 8192
HMAC_ALGORITHMS = ("HS256",)
JWKS_ALGORITHMS = ("RS256", "ES256")
REALM = 'Bearer realm="TourBrain Support widget"'


class WidgetTokenError(exceptions.AuthenticationFailed):
    """401 with a machine-readable code saying why the token was refused."""

    def __init__(self, code: str, message: str):
        super().__init__(detail=message, code=code)


class JWKSUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "jwks_unavailable"
    default_detail = "The token keys cannot be fetched right now; try again shortly."


@dataclass(frozen=True)
class WidgetIdentity:
    """`request.auth` of a widget request: the verified claims and the customer's identity row."""

    claims: dict
    identity: ExternalIdentity

    @property
    def organization(self):
        return self.identity.organization


_clients: dict[tuple, jwt.PyJWKClient] = {}
_clients_lock = threading.Lock()


def jwks_client() -> jwt.PyJWKClient:
    """One PyJWKClient per JWKS configuration (so its key cache lives across requests)."""
    key = (settings.WIDGET_JWKS_URL, settings.WIDGET_JWKS_TIMEOUT_SECONDS, settings.WIDGET_JWKS_COOLDOWN_SECONDS)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = jwt.PyJWKClient(
                settings.WIDGET_JWKS_URL,
                cache_jwk_set=True,
                lifespan=settings.WIDGET_JWKS_CACHE_SECONDS,
                timeout=settings.WIDGET_JWKS_TIMEOUT_SECONDS,
                cooldown_duration=settings.WIDGET_JWKS_COOLDOWN_SECONDS,
            )
            _clients[key] = client
        return client


def allowed_algorithms() -> list[str]:
    algorithms = []
    if settings.WIDGET_JWT_SECRET:
        algorithms += HMAC_ALGORITHMS
    if settings.WIDGET_JWKS_URL:
        algorithms += JWKS_ALGORITHMS
    return algorithms


def _header(token: str) -> dict:
    try:
        return jwt.get_unverified_header(token)
    except jwt.DecodeError as exc:
        raise WidgetTokenError("token_malformed", "The token is not a well-formed JWT.") from exc


def _key(header: dict, algorithm: str):
    if algorithm in HMAC_ALGORITHMS:
        return settings.WIDGET_JWT_SECRET
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise WidgetTokenError("unknown_kid", "The token names no signing key (kid).")
    try:
        return jwks_client().get_signing_key(kid)
    except jwt.PyJWKClientConnectionError as exc:
        raise JWKSUnavailable() from exc
    except (jwt.PyJWKClientError, jwt.PyJWKSetError) as exc:
        if "Unable to find a signing key" in str(exc):
            raise WidgetTokenError("unknown_kid", "The token's signing key (kid) is not known.") from exc
        raise JWKSUnavailable() from exc


_DECODE_ERRORS: list[tuple[type[Exception], str, str]] = [
    (jwt.ExpiredSignatureError, "token_expired", "The token has expired."),
    (jwt.ImmatureSignatureError, "token_not_yet_valid", "The token is not valid yet."),
    (jwt.InvalidIssuerError, "wrong_issuer", "The token was issued by someone else."),
    (jwt.InvalidAudienceError, "wrong_audience", "The token is meant for another audience."),
    (jwt.InvalidSignatureError, "bad_signature", "The token's signature does not verify."),
    (jwt.InvalidAlgorithmError, "alg_not_allowed", "The token's algorithm is not accepted."),
    (jwt.InvalidKeyError, "alg_not_allowed", "The token's algorithm does not fit its key."),
    (jwt.DecodeError, "token_malformed", "The token is not a well-formed JWT."),
]


# The widget sends the same token with each call until it expires (a page load makes several, typing in the
# new-ticket form one per pause): a token verified moments ago under the same settings is not verified again.
VERIFIED_TOKENS_MAX = 4096
# How long a verification is reused at most. A token signed with a key removed from the JWKS verifies for
# up to this much longer than without the reuse (PyJWKClient itself keeps the JWKS for
# WIDGET_JWKS_CACHE_SECONDS); tokens expire sooner anyway (Clerk's after 60 s).
VERIFIED_TOKEN_REUSE_SECONDS = 60

_verified: dict[str, tuple[tuple, float, float, dict]] = {}  # token -> (settings, verified at, good until, claims)
_verified_lock = threading.Lock()


def _verification_settings() -> tuple:
    return (
        settings.WIDGET_JWT_SECRET,
        settings.WIDGET_JWKS_URL,
        settings.WIDGET_JWT_ISSUER,
        settings.WIDGET_JWT_AUDIENCE,
        settings.WIDGET_JWT_LEEWAY_SECONDS,
        tuple(settings.WIDGET_ALLOWED_ORIGINS),
    )


def verify_token(token: str) -> dict:
    """The verified claims of a widget token; WidgetTokenError (401, with a code) otherwise.

    A token verified within VERIFIED_TOKEN_REUSE_SECONDS under the same settings, and not expired since, is
    answered from memory (keyed by the whole token, so only that exact signed token matches)."""
    configured, now = _verification_settings(), time.time()
    known = _verified.get(token)
    if known is not None and known[0] == configured and known[1] <= now < known[2]:
        return dict(known[3])
    claims = _verify(token)
    good_until = min(int(claims["exp"]) + settings.WIDGET_JWT_LEEWAY_SECONDS, now + VERIFIED_TOKEN_REUSE_SECONDS)
    with _verified_lock:
        while len(_verified) >= VERIFIED_TOKENS_MAX:
            del _verified[next(iter(_verified))]  # the oldest
        _verified[token] = (configured, now, good_until, claims)
    return dict(claims)


def _verify(token: str) -> dict:
    if len(token) > MAX_TOKEN_BYTES:
        raise WidgetTokenError("token_too_large", f"The token is longer than {MAX_TOKEN_BYTES} bytes.")
    header = _header(token)
    algorithm = header.get("alg")
    if not isinstance(algorithm, str) or algorithm.lower() == "none":
        raise WidgetTokenError("alg_none", "Unsigned tokens (alg none) are refused.")
    algorithms = allowed_algorithms()
    if algorithm not in algorithms:
        # An HS256 token when only the JWKS is configured is the key-confusion attack (HMAC keyed with
        # the public key): refused here, before any key is looked at.
        raise WidgetTokenError(
            "alg_not_allowed", f"Algorithm {algorithm} is not accepted (accepted: {', '.join(algorithms) or 'none'})."
        )
    key = _key(header, algorithm)
    options = {"require": ["exp", "sub"], "verify_aud": bool(settings.WIDGET_JWT_AUDIENCE)}
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            issuer=settings.WIDGET_JWT_ISSUER or None,
            audience=settings.WIDGET_JWT_AUDIENCE or None,
            leeway=settings.WIDGET_JWT_LEEWAY_SECONDS,
            options=options,
        )
    except jwt.MissingRequiredClaimError as exc:
        raise WidgetTokenError(f"missing_{exc.claim}", f"The token has no '{exc.claim}' claim.") from exc
    except jwt.PyJWTError as exc:
        for error_class, code, message in _DECODE_ERRORS:
            if isinstance(exc, error_class):
                raise WidgetTokenError(code, message) from exc
        raise WidgetTokenError("token_invalid", "The token is not valid.") from exc
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject.strip() or len(subject) > 255:
        raise WidgetTokenError("missing_sub", "The token's 'sub' claim is empty or not a string.")
    issuer = claims.get("iss", "")
    if not isinstance(issuer, str) or len(issuer) > 300:
        raise WidgetTokenError("wrong_issuer", "The token's 'iss' claim is not a valid issuer.")
    azp = claims.get("azp")
    origins = settings.WIDGET_ALLOWED_ORIGINS
    if azp is not None and origins and azp not in origins:
        raise WidgetTokenError("wrong_azp", "The token was issued for another site (azp).")
    return claims


class WidgetJWTAuthentication(BaseAuthentication):
    """DRF authentication of the widget API: a verified bearer token, nothing else."""

    keyword = b"bearer"

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header:
            return None
        if header[0].lower() != self.keyword or len(header) != 2:
            raise WidgetTokenError("bearer_required", "Send the token as 'Authorization: Bearer <token>'.")
        if len(header[1]) > MAX_TOKEN_BYTES:
            raise WidgetTokenError("token_too_large", f"The token is longer than {MAX_TOKEN_BYTES} bytes.")
        try:
            token = header[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise WidgetTokenError("token_malformed", "The token is not a well-formed JWT.") from exc
        claims = verify_token(token)
        try:
            identity = customer_from_claims(issuer=claims.get("iss", ""), subject=claims["sub"], claims=claims)
        except ClaimError as exc:
            raise WidgetTokenError("invalid_claim", str(exc)) from exc
        except StaffAccountError as exc:
            raise exceptions.PermissionDenied(
                "Staff accounts do not use the customer widget.", code="staff_account"
            ) from exc
        user = identity.user
        if not user.is_active:
            raise WidgetTokenError("user_inactive", "This customer account is disabled.")
        return user, WidgetIdentity(claims=claims, identity=identity)

    def authenticate_header(self, request) -> str:
        return REALM


class WidgetJWTScheme(OpenApiAuthenticationExtension):
    target_class = "tourbrain_support.widget_auth.WidgetJWTAuthentication"
    name = "widgetJWT"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "A JWT minted by TourBrain's backend (HS256) or its auth provider (RS256/ES256, JWKS).",
        }
