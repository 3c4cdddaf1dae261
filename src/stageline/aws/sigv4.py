"""Server-side verification of AWS Signature Version 4 (Authorization header and presigned URLs).

The canonical request is rebuilt the way botocore's `SigV4Auth`/`SigV4QueryAuth` build it, so
requests from boto3 and the AWS CLI verify; failures raise `ServiceError` with status 403 and the
error codes and messages AWS itself returns.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import lru_cache, partial
from typing import Protocol
from urllib.parse import quote, unquote, unquote_to_bytes

from stageline.domain.errors import ServiceError

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
MAX_PRESIGN_EXPIRES = 604800  # AWS caps X-Amz-Expires at one week
_PRESIGN_PARAMS = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date",
                   "X-Amz-SignedHeaders", "X-Amz-Expires")  # fmt: skip
_HOST_UNSIGNED = "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
_UNKNOWN_KEY = "The security token included in the request is invalid."
_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details."
)


@dataclass(frozen=True)
class SignedRequest:
    method: str
    path: str  # raw, percent-encoded as on the wire (ASGI `raw_path`, not the decoded `path`)
    query: str  # raw query string without '?'
    headers: Mapping[str, str]  # any case; repeated headers may appear as repeated items()
    body: bytes


@dataclass(frozen=True)
class VerifiedCredential:
    access_key_id: str
    region: str
    service: str
    # What S3's signed-chunk payloads chain from: the request's signature, its ISO-8601 basic
    # timestamp and its scope date (not part of who signed, so not compared).
    signature: str = field(default="", compare=False, repr=False)
    timestamp: str = field(default="", compare=False)
    scope_date: str = field(default="", compare=False)


class SecretLookup(Protocol):
    def __call__(self, access_key_id: str) -> str | None: ...


@dataclass(frozen=True)
class _Auth:
    access_key_id: str
    scope_date: str
    region: str
    service: str
    signed_headers: str
    signature: str
    timestamp: str  # ISO-8601 basic, exactly as it enters the string to sign
    when: datetime
    expires: int | None  # presigned only


def _error(code: str, message: str) -> ServiceError:
    return ServiceError(message, code=code, status=403)


_incomplete = partial(_error, "IncompleteSignatureException")
_invalid = partial(_error, "InvalidSignatureException")


def _utf8(text: str) -> bytes:
    # surrogatepass: odd input never raises, and the encoding stays injective (no '?').
    return text.encode("utf-8", "surrogatepass")


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


def _parse_time(value: str, *, rfc1123: bool = False) -> datetime:
    # Only the exact basic form AWS signs (YYYYMMDDTHHMMSSZ); fromisoformat is C-fast.
    with suppress(ValueError):
        if len(value) == 16 and value[8] == "T" and value[15] == "Z" and value.isascii():
            return datetime.fromisoformat(value)
    if rfc1123:  # a Date header (botocore's fallback) is RFC 1123, "-0000" meaning UTC
        with suppress(TypeError, ValueError):
            when = parsedate_to_datetime(value)
            return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    raise _incomplete(
        f"Date must be in ISO-8601 'basic format'. Got '{value}'. "
        "See http://en.wikipedia.org/wiki/ISO_8601"
    )


def _parse_credential(credential: str) -> tuple[str, str, str, str]:
    parts = credential.split("/")
    if len(parts) != 5 or not all(parts[:4]):
        raise _incomplete(
            "Credential must have exactly 5 slash-delimited elements, "
            f"e.g. keyid/date/region/service/term, got '{credential}'"
        )
    if parts[4] != "aws4_request":
        raise _incomplete(
            f"Credential should be scoped with a valid terminator: 'aws4_request', not '{parts[4]}'."
        )
    return parts[0], parts[1], parts[2], parts[3]


def _header_auth(value: str, headers: Mapping[str, list[str]]) -> _Auth:
    algorithm, _, rest = value.strip().partition(" ")
    fields: dict[str, str] = {}
    if algorithm.startswith("AWS4-") and algorithm != ALGORITHM:
        raise _incomplete(f"Unsupported AWS 'algorithm': '{algorithm}'.")
    # AWS tokenises on commas *and* whitespace ("Credential= AKID/..." is two tokens); other
    # schemes (SigV2 "AWS id:sig", Bearer) just lack every parameter.
    for token in rest.replace(",", " ").split() if algorithm == ALGORITHM else ():
        name, eq, field = token.partition("=")
        if not eq:
            raise _incomplete(
                f"'{token}' not a valid key=value pair (missing equal-sign) in "
                f"Authorization header: '{value}'."
            )
        fields[name] = field
    problems = [
        f"Authorization header requires '{name}' parameter."
        for name in ("Credential", "Signature", "SignedHeaders")
        if not fields.get(name)
    ]
    dated = headers.get("x-amz-date") or headers.get("date")  # X-Amz-Date wins, as in botocore
    if dated is None:
        problems.append(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        )
    if problems or dated is None:
        raise _incomplete(" ".join(problems) + f" Authorization={value}")
    when = _parse_time(dated[0].strip(), rfc1123="x-amz-date" not in headers)
    scope = _parse_credential(fields["Credential"])
    return _Auth(*scope, fields["SignedHeaders"], fields["Signature"], _iso(when), when, None)


def _query_auth(params: Mapping[str, str]) -> _Auth:
    if not all(params.get(name) for name in _PRESIGN_PARAMS):
        raise _incomplete(
            "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
            "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."
        )
    if params["X-Amz-Algorithm"] != ALGORITHM:
        raise _incomplete(f'X-Amz-Algorithm only supports "{ALGORITHM}"')
    expires = params["X-Amz-Expires"]
    if not (expires.isascii() and expires.isdigit()) or int(expires) > MAX_PRESIGN_EXPIRES:
        raise _incomplete(
            f"X-Amz-Expires must be a number of seconds, at most {MAX_PRESIGN_EXPIRES}"
        )
    timestamp = params["X-Amz-Date"]
    scope = _parse_credential(params["X-Amz-Credential"])
    signed, signature = params["X-Amz-SignedHeaders"], params["X-Amz-Signature"]
    return _Auth(*scope, signed, signature, timestamp, _parse_time(timestamp), int(expires))


def _check_clock(auth: _Auth, now: datetime, skew: timedelta) -> None:
    minutes = int(skew.total_seconds() // 60)
    if auth.when > now + skew:
        raise _invalid(
            f"Signature not yet current: {auth.timestamp} is still later than "
            f"{_iso(now + skew)} ({_iso(now)} + {minutes} min.)"
        )
    if auth.expires is not None:  # presigned: X-Amz-Expires replaces the past-skew window
        if now > auth.when + timedelta(seconds=auth.expires):
            raise _invalid("Request has expired")
    elif auth.when < now - skew:
        raise _invalid(
            f"Signature expired: {auth.timestamp} is now earlier than "
            f"{_iso(now - skew)} ({_iso(now)} - {minutes} min.)"
        )


def _encode(component: str) -> str:
    # Decode then re-encode, so any client escaping normalises to RFC 3986 with uppercase hex;
    # a raw '+' is a space (botocore's AWSRequest sends its params through urlencode).
    return quote(unquote_to_bytes(component.replace("+", "%20")), safe="-_.~")


def _canonical_uri(path: str, service: str) -> str:
    if service == "s3":  # S3 alone signs the path as sent: single-encoded, not normalised
        return path or "/"
    if path == "/":
        return path
    # Everyone else: drop dot and empty segments, then percent-encode the already-encoded path
    # once more, as botocore does ("/a%20b" is signed as "/a%2520b").
    segments: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            del segments[-1:]
        elif segment and segment != ".":
            segments.append(segment)
    lead = "/" if path.startswith("/") or not path else ""
    trail = "/" if path.endswith("/") and segments else ""
    return quote(lead + "/".join(segments) + trail, safe="/~")


def _payload_hash(auth: _Auth, headers: Mapping[str, list[str]], body: bytes) -> str:
    declared = headers.get("x-amz-content-sha256")
    if declared is None:
        # botocore presigns S3 with UNSIGNED-PAYLOAD; every other presign hashes the body.
        if auth.expires is not None and auth.service == "s3":
            return UNSIGNED_PAYLOAD
        return hashlib.sha256(body).hexdigest()
    value = declared[0].strip()
    # A declared digest is signed in place of the body, so it must also match the body.
    if value != UNSIGNED_PAYLOAD and value.lower() != hashlib.sha256(body).hexdigest():
        raise _invalid(
            "The provided 'x-amz-content-sha256' header does not match what was computed."
        )
    return value


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """The SigV4 signing key (cached); S3's signed chunked payloads sign each chunk with it."""
    return _signing_key(secret, date, region, service)


@lru_cache(maxsize=256)
def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.digest(key, part.encode(), "sha256")
    return key


def verify(
    request: SignedRequest,
    lookup: SecretLookup,
    *,
    now: datetime | None = None,
    max_skew: timedelta = timedelta(minutes=15),
    payload_hash: str | None = None,
) -> VerifiedCredential:
    """Check the request's SigV4 signature; return who signed it, or raise a 403 ServiceError.

    payload_hash: S3's streamed bodies. The value to sign as the payload hash (the request's
    x-amz-content-sha256, or UNSIGNED-PAYLOAD) instead of hashing `body`; the caller checks
    the body it streams against it.
    """
    headers: dict[str, list[str]] = {}
    for name, value in request.headers.items():
        headers.setdefault(name.lower(), []).append(value)
    split = (part.partition("=") for part in request.query.split("&") if part)
    pairs = [(_encode(k), _encode(v)) for k, _, v in split]

    authorization = headers.get("authorization")
    presign = {k: unquote(v) for k, v in pairs if k in _PRESIGN_PARAMS}
    if authorization is not None:
        auth = _header_auth(authorization[0], headers)
    elif presign:
        auth = _query_auth(presign)
        pairs = [(k, v) for k, v in pairs if k != "X-Amz-Signature"]
    else:
        raise _error("MissingAuthenticationTokenException", "Missing Authentication Token")

    signed_names = auth.signed_headers.split(";")
    if "host" not in signed_names:
        raise _incomplete(_HOST_UNSIGNED)
    now = now or datetime.now(UTC)
    _check_clock(auth, now if now.tzinfo else now.replace(tzinfo=UTC), max_skew)
    if auth.scope_date != auth.timestamp[:8]:
        raise _invalid(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
            f"HTTP: '{auth.scope_date}' != '{auth.timestamp[:8]}', from '{auth.timestamp}'."
        )
    secret = lookup(auth.access_key_id)
    if secret is None:
        raise _error("UnrecognizedClientException", _UNKNOWN_KEY)

    canonical_headers = []
    for name in signed_names:
        values = headers.get(name.lower())
        if values is None:  # a signed header that did not arrive cannot match
            raise _invalid(_MISMATCH)
        # Trim and collapse inner whitespace per value; repeated headers join with ','.
        canonical_headers.append(f"{name}:{','.join(' '.join(v.split()) for v in values)}\n")
    canonical_request = "\n".join(
        (
            request.method.upper(),
            _canonical_uri(request.path, auth.service),
            "&".join(f"{k}={v}" for k, v in sorted(pairs)),
            "".join(canonical_headers),
            auth.signed_headers,
            _payload_hash(auth, headers, request.body) if payload_hash is None else payload_hash,
        )
    )
    digest = hashlib.sha256(_utf8(canonical_request)).hexdigest()
    scope = f"{auth.scope_date}/{auth.region}/{auth.service}/aws4_request"
    string_to_sign = _utf8(f"{ALGORITHM}\n{auth.timestamp}\n{scope}\n{digest}")
    key = _signing_key(secret, auth.scope_date, auth.region, auth.service)
    expected = hmac.new(key, string_to_sign, "sha256").hexdigest().encode()
    if not hmac.compare_digest(expected, _utf8(auth.signature)):
        raise _invalid(_MISMATCH)
    return VerifiedCredential(
        auth.access_key_id,
        auth.region,
        auth.service,
        auth.signature,
        auth.timestamp,
        auth.scope_date,
    )
