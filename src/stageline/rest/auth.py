"""REST authentication: the same access keys as the AWS API.

Accepted: a SigV4-signed request (`curl --aws-sigv4 aws:amz:REGION:codepipeline --user ID:SECRET`)
or HTTP Basic with the access key id as user and the secret as password (over TLS in
production). Every /api/v1 route depends on this, so nothing is unauthenticated.
"""

from __future__ import annotations

import base64
import binascii

from fastapi import Request

from stageline.aws.router import authenticate_signed
from stageline.domain.errors import ServiceError
from stageline.identity import Principal
from stageline.runtime import Runtime


class Unauthenticated(ServiceError):
    code = "UnrecognizedClientException"
    status = 401


def _basic(runtime: Runtime, header: str) -> Principal:
    try:
        decoded = base64.b64decode(header.split(" ", 1)[1], validate=True).decode()
    except (IndexError, binascii.Error, UnicodeDecodeError):
        raise Unauthenticated("Malformed Basic authorization header.") from None
    key_id, _, secret = decoded.partition(":")
    if not runtime.keys.check_secret(key_id, secret):
        raise Unauthenticated("The access key id or secret is not valid.")
    return runtime.keys.principal(key_id)


async def authenticate(request: Request) -> Principal:
    runtime: Runtime = request.app.state.runtime
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        return _basic(runtime, header)
    if not header and "X-Amz-Signature" not in request.query_params:
        raise Unauthenticated(
            "Authentication required: sign the request with SigV4 or use HTTP Basic with "
            "your access key id and secret."
        )
    return authenticate_signed(runtime, request, await request.body())
