"""Request bodies of S3 uploads, streamed to a file and checked the way S3 checks them.

`x-amz-content-sha256` says how the body comes (what SigV4 signed as the payload hash):

- a hex SHA-256: the raw body, which must hash to it (boto3 over http);
- UNSIGNED-PAYLOAD: the raw body, unchecked (presigned URLs; some SDKs over https);
- STREAMING-UNSIGNED-PAYLOAD-TRAILER: `aws-chunked` frames with a trailing checksum header
  (boto3 ≥ 1.36 over https, its default `request_checksum_calculation=when_supported`);
- STREAMING-AWS4-HMAC-SHA256-PAYLOAD: `aws-chunked` frames each signed, chained from the
  request's signature (the AWS SDK for Java, for one).

Any `x-amz-checksum-*` (header or trailer) in CRC32, SHA1 or SHA256 is verified, and so is a
Content-MD5; CRC32C and CRC64NVME (which need native code) are accepted unverified.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import zlib
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from stageline.aws import s3_wire as wire

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_MAX_LINE = 4096  # a chunk header or trailer line
_HEX = frozenset("0123456789abcdefABCDEF")


class _Hash(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def digest(self) -> bytes: ...


class _Crc32:
    def __init__(self) -> None:
        self.value = 0

    def update(self, data: bytes, /) -> None:
        self.value = zlib.crc32(data, self.value)

    def digest(self) -> bytes:
        return self.value.to_bytes(4, "big")


_CHECKSUMS: dict[str, Callable[[], _Hash]] = {
    "crc32": _Crc32,
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
}
_UNVERIFIED = frozenset({"crc32c", "crc64nvme"})


@dataclass(frozen=True)
class ChunkSigning:
    """What STREAMING-AWS4-HMAC-SHA256-PAYLOAD chunk signatures chain from."""

    key: bytes  # the request's SigV4 signing key
    timestamp: str
    scope: str  # date/region/service/aws4_request
    seed: str  # the request's own signature


@dataclass(frozen=True)
class Received:
    size: int
    md5: str  # hex digest of the decoded body


def is_sha256_hex(value: str) -> bool:
    return len(value) == 64 and all(c in _HEX for c in value)


def check_mode(content_sha256: str) -> None:
    """NotImplemented for payload modes this endpoint does not decode."""
    known = (UNSIGNED_PAYLOAD, STREAMING_UNSIGNED_TRAILER, STREAMING_SIGNED)
    if content_sha256 not in known and not is_sha256_hex(content_sha256):
        raise wire.not_implemented(f"the payload mode x-amz-content-sha256: {content_sha256}")


async def receive(
    stream: AsyncIterator[bytes],
    out: BinaryIO,
    headers: Mapping[str, str],
    content_sha256: str,
    limit: int,
    signing: ChunkSigning | None = None,
) -> Received:
    """Write the decoded body to `out`, checking every digest the request carries."""
    checksum_name, expected = _declared_checksum(headers, content_sha256)
    sink = _Sink(out, limit, checksum_name)
    if content_sha256 in (STREAMING_UNSIGNED_TRAILER, STREAMING_SIGNED):
        if content_sha256 == STREAMING_SIGNED and signing is None:
            raise wire.invalid_request("Signed chunks need a header-signed request.")
        decoder = _ChunkDecoder(sink, signing if content_sha256 == STREAMING_SIGNED else None)
        async for data in stream:
            decoder.feed(data)
        if decoder.state != "done":
            raise wire.incomplete_body()
        if checksum_name is not None:
            expected = decoder.trailers.get(f"x-amz-checksum-{checksum_name}", expected)
        declared = headers.get("x-amz-decoded-content-length")
        if declared is not None and (not declared.isdigit() or int(declared) != sink.size):
            raise wire.incomplete_body()
    else:
        body_sha = hashlib.sha256() if is_sha256_hex(content_sha256) else None
        async for data in stream:
            if body_sha is not None:
                body_sha.update(data)
            sink.write(data)
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) != sink.size:
            raise wire.incomplete_body()
        if body_sha is not None and body_sha.hexdigest() != content_sha256.lower():
            raise wire.S3Error(
                "XAmzContentSHA256Mismatch",
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
                400,
            )
    sink.verify(expected, headers.get("content-md5"))
    return Received(sink.size, sink.md5.hexdigest())


def _declared_checksum(
    headers: Mapping[str, str], content_sha256: str
) -> tuple[str | None, str | None]:
    """(algorithm to verify, expected base64 value — None until the trailer brings it)."""
    if content_sha256 == STREAMING_UNSIGNED_TRAILER or "x-amz-trailer" in headers:
        trailer = headers.get("x-amz-trailer", "").strip().lower()
        if trailer.startswith("x-amz-checksum-"):
            name = trailer.removeprefix("x-amz-checksum-")
            return (name if name in _CHECKSUMS else None), None
        return None, None
    for name in _CHECKSUMS:
        value = headers.get(f"x-amz-checksum-{name}")
        if value is not None:
            return name, value
    return None, None


class _Sink:
    """Decoded bytes into the file: size limit, MD5, and the declared checksum."""

    def __init__(self, out: BinaryIO, limit: int, checksum_name: str | None) -> None:
        self.out = out
        self.limit = limit
        self.size = 0
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.checksum_name = checksum_name
        self.checksum: _Hash | None = _CHECKSUMS[checksum_name]() if checksum_name else None

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise wire.entity_too_large(self.limit)
        self.md5.update(data)
        if self.checksum is not None:
            self.checksum.update(data)
        self.out.write(data)

    def verify(self, expected: str | None, content_md5: str | None) -> None:
        if content_md5 is not None and not _b64_equal(content_md5, self.md5.digest()):
            raise wire.bad_digest("Content-MD5")
        checksum = self.checksum
        if (
            checksum is not None
            and expected is not None
            and not _b64_equal(expected, checksum.digest())
        ):
            raise wire.bad_digest(f"x-amz-checksum-{self.checksum_name}")


def _b64_equal(text: str, digest: bytes) -> bool:
    try:
        given = base64.b64decode(text.strip(), validate=True)
    except ValueError:
        return False
    return hmac.compare_digest(given, digest)


class _ChunkDecoder:
    """aws-chunked: `hex-size[;chunk-signature=sig]\\r\\n data \\r\\n` … `0…\\r\\n`, trailer
    lines, `\\r\\n`. Fed whatever pieces the HTTP server hands over."""

    def __init__(self, sink: _Sink, signing: ChunkSigning | None) -> None:
        self.sink = sink
        self.signing = signing
        self.previous = signing.seed if signing else ""
        self.buf = bytearray()
        self.state = "size"  # size → data → crlf → size … → trailer → done
        self.remaining = 0
        self.chunk_signature = ""
        self.chunk_sha = hashlib.sha256()
        self.trailers: dict[str, str] = {}
        self.trailer_bytes = 0

    def feed(self, data: bytes) -> None:
        self.buf += data
        while self.buf:
            if self.state == "size":
                line = self._line()
                if line is None:
                    return
                self._start_chunk(line)
            elif self.state == "data":
                take = min(self.remaining, len(self.buf))
                piece = bytes(self.buf[:take])
                del self.buf[:take]
                self.sink.write(piece)
                self.chunk_sha.update(piece)
                self.remaining -= take
                if self.remaining:
                    return
                self._end_chunk()
                self.state = "crlf"
            elif self.state == "crlf":
                if len(self.buf) < 2:
                    return
                if self.buf[:2] != b"\r\n":
                    raise _malformed()
                del self.buf[:2]
                self.state = "size"
            elif self.state == "trailer":
                line = self._line()
                if line is None:
                    return
                self.trailer_bytes += len(line)
                if self.trailer_bytes > 4 * _MAX_LINE:
                    raise _malformed()
                if not line:
                    self.state = "done"
                    continue
                name, colon, value = line.partition(":")
                if not colon:
                    raise _malformed()
                self.trailers[name.strip().lower()] = value.strip()
            else:  # done: nothing may follow
                raise _malformed()

    def _line(self) -> str | None:
        end = self.buf.find(b"\r\n")
        if end < 0:
            if len(self.buf) > _MAX_LINE:
                raise _malformed()
            return None
        line = bytes(self.buf[:end]).decode("latin-1")
        del self.buf[: end + 2]
        return line

    def _start_chunk(self, line: str) -> None:
        size_text, _, extension = line.partition(";")
        size_text = size_text.strip()
        if not size_text or len(size_text) > 16 or not all(c in _HEX for c in size_text):
            raise _malformed()
        if self.signing is not None:
            name, _, signature = extension.strip().partition("=")
            if name != "chunk-signature" or not is_sha256_hex(signature):
                raise _malformed()
            self.chunk_signature = signature
        self.remaining = int(size_text, 16)
        self.chunk_sha = hashlib.sha256()
        if self.remaining:
            self.state = "data"
        else:
            self._end_chunk()
            self.state = "trailer"

    def _end_chunk(self) -> None:
        if self.signing is None:
            return
        signing = self.signing
        string_to_sign = "\n".join(
            ("AWS4-HMAC-SHA256-PAYLOAD", signing.timestamp, signing.scope, self.previous,
             EMPTY_SHA256, self.chunk_sha.hexdigest())
        )  # fmt: skip
        expected = hmac.new(signing.key, string_to_sign.encode(), "sha256").hexdigest()
        if not hmac.compare_digest(expected, self.chunk_signature.lower()):
            raise wire.signature_does_not_match()
        self.previous = expected


def _malformed() -> wire.S3Error:
    return wire.invalid_request("The aws-chunked request body is malformed.")
