"""S3's wire format for the artifact endpoint: error codes and XML documents."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from stageline.domain.errors import ServiceError

XML = "application/xml"
S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
MAX_XML_BYTES = 1024 * 1024  # a CompleteMultipartUpload of 10,000 parts fits
# Presigned URLs carry the job's session token and a signature good until they expire.
_SECRET_PARAMS = re.compile(r"(?i)\b(X-Amz-Security-Token|X-Amz-Signature|Signature)=[^&\s\"]*")


class S3Error(Exception):
    """An error answered in S3's XML format, `<Error><Code>…</Code>…</Error>`."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def access_denied(message: str = "Access Denied") -> S3Error:
    return S3Error("AccessDenied", message, 403)


def invalid_access_key_id() -> S3Error:
    return S3Error(
        "InvalidAccessKeyId",
        "The AWS Access Key Id you provided does not exist in our records.",
        403,
    )


def signature_does_not_match() -> S3Error:
    return S3Error(
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method.",
        403,
    )


def expired_token() -> S3Error:
    return S3Error("ExpiredToken", "The provided token has expired.", 400)


def invalid_token() -> S3Error:
    return S3Error("InvalidToken", "The provided token is malformed or otherwise invalid.", 400)


def no_such_key() -> S3Error:
    return S3Error("NoSuchKey", "The specified key does not exist.", 404)


def no_such_bucket() -> S3Error:
    return S3Error("NoSuchBucket", "The specified bucket does not exist", 404)


def no_such_upload() -> S3Error:
    return S3Error(
        "NoSuchUpload",
        "The specified upload does not exist. The upload ID may be invalid, or the upload may "
        "have been aborted or completed.",
        404,
    )


def not_implemented(what: str) -> S3Error:
    return S3Error(
        "NotImplemented", f"Stageline's artifact endpoint does not implement {what}.", 501
    )


def invalid_argument(message: str) -> S3Error:
    return S3Error("InvalidArgument", message, 400)


def invalid_request(message: str) -> S3Error:
    return S3Error("InvalidRequest", message, 400)


def malformed_xml() -> S3Error:
    return S3Error(
        "MalformedXML",
        "The XML you provided was not well-formed or did not validate against our published "
        "schema.",
        400,
    )


def bad_digest(what: str) -> S3Error:
    return S3Error(
        "BadDigest", f"The {what} you specified did not match the calculated checksum.", 400
    )


def incomplete_body() -> S3Error:
    return S3Error(
        "IncompleteBody",
        "You did not provide the number of bytes specified by the Content-Length HTTP header.",
        400,
    )


def entity_too_large(limit: int) -> S3Error:
    return S3Error(
        "EntityTooLarge", f"Your proposed upload exceeds the maximum allowed size ({limit}).", 400
    )


def error_xml(error: S3Error, resource: str, request_id: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(error.code)}</Code><Message>{escape(error.message)}</Message>"
        f"<Resource>{escape(resource)}</Resource><RequestId>{escape(request_id)}</RequestId>"
        "</Error>"
    ).encode()


def document(root: str, fields: Iterable[tuple[str, str]]) -> bytes:
    """`<Root xmlns=S3><Name>value</Name>…</Root>`, values escaped."""
    body = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in fields)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{S3_NS}">{body}</{root}>'
    ).encode()


def parse_completed_parts(body: bytes) -> list[tuple[int, str]]:
    """(PartNumber, ETag without quotes) of a CompleteMultipartUpload document, in its order."""
    if len(body) > MAX_XML_BYTES or b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise malformed_xml()
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as exc:
        raise malformed_xml() from exc
    parts: list[tuple[int, str]] = []
    if _local(root.tag) != "CompleteMultipartUpload":
        raise malformed_xml()
    for part in root:
        if _local(part.tag) != "Part":
            continue
        fields = {_local(child.tag): (child.text or "").strip() for child in part}
        number, etag = fields.get("PartNumber", ""), fields.get("ETag", "")
        if not number.isdigit() or not etag:
            raise malformed_xml()
        parts.append((int(number), etag.strip('"')))
    if not parts:
        raise malformed_xml()
    return parts


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def auth_error(exc: ServiceError, presigned: bool) -> S3Error:
    """sigv4's AWS-JSON error codes in S3's terms."""
    message = str(exc)
    if exc.code == "UnrecognizedClientException":
        return invalid_access_key_id()
    if exc.code == "IncompleteSignatureException" or message.startswith("Date in Credential"):
        code = "AuthorizationQueryParametersError" if presigned else "AuthorizationHeaderMalformed"
        return S3Error(code, message, 400)
    if message.startswith(("Signature expired", "Signature not yet current")):
        return S3Error(
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
            403,
        )
    if message == "Request has expired":
        return access_denied("Request has expired")
    if exc.code == "InvalidSignatureException":
        return signature_does_not_match()
    return access_denied()


class RedactPresigned(logging.Filter):
    """Keeps presigned URLs' session tokens and signatures out of uvicorn's access log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _SECRET_PARAMS.sub(r"\1=REDACTED", arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        return True


def redact_access_log() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(existing, RedactPresigned) for existing in access.filters):
        access.addFilter(RedactPresigned())
