"""Console sign-in with Stageline's access keys, sessions, and the CSRF check of every POST."""

from __future__ import annotations

import time
from collections import defaultdict, deque
from dataclasses import dataclass
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from stageline.console.session import COOKIE, Session, secret_fingerprint
from stageline.console.web import (
    page,
    read_form,
    read_form_lists,
    redirect,
    set_session_cookie,
    signer_of,
)
from stageline.identity import Principal
from stageline.runtime import Runtime

router = APIRouter(prefix="/console")
# Failed sign-ins per (client address, key id) in the last minute; past the limit the form is
# refused for that pair without checking, so a secret cannot be guessed at speed. Per process.
FAILED_SIGN_INS_PER_MINUTE = 10
_failures: dict[tuple[str, str], deque[float]] = defaultdict(deque)


def _recent_failures(who: tuple[str, str]) -> deque[float]:
    times = _failures[who]
    while times and times[0] < time.monotonic() - 60:
        times.popleft()
    if not times:
        del _failures[who]  # the table holds only pairs that failed within the minute
        return deque()
    return times


class NeedSignIn(Exception):
    """No valid signed-in session: pages redirect to sign-in, streams answer 401."""


class CsrfRefused(Exception):
    """A POST without the session's CSRF token: refused with 403."""


@dataclass(frozen=True)
class Visitor:
    session: Session
    principal: Principal


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def session_of(request: Request) -> Session | None:
    """The request's session, if its cookie is genuine and unexpired."""
    return signer_of(request).load(request.cookies.get(COOKIE))


def visitor(request: Request) -> Visitor:
    """The signed-in caller. A session ends when its key's secret no longer matches."""
    session = session_of(request)
    if session is None or session.access_key_id is None:
        raise NeedSignIn()
    runtime = runtime_of(request)
    secret = runtime.keys.secret_for(session.access_key_id)
    signer = signer_of(request)
    if secret is None or session.fingerprint != secret_fingerprint(signer.key, secret):
        raise NeedSignIn()
    return Visitor(session, runtime.keys.principal(session.access_key_id))


async def posted(request: Request) -> tuple[Visitor, dict[str, str]]:
    """A signed-in POST with its form, after the CSRF check."""
    who = visitor(request)
    form = await read_form(request)
    if not signer_of(request).csrf_ok(who.session, form.get("csrf")):
        raise CsrfRefused()
    return who, form


async def posted_lists(request: Request) -> tuple[Visitor, dict[str, list[str]]]:
    who = visitor(request)
    form = await read_form_lists(request)
    token = form["csrf"][-1] if form.get("csrf") else None
    if not signer_of(request).csrf_ok(who.session, token):
        raise CsrfRefused()
    return who, form


def _safe_next(target: str | None) -> str:
    # Only our own pages: an open redirect would make the sign-in page a phishing tool.
    if target and target.startswith("/console") and not target.startswith("//"):
        return target
    return "/console"


@router.get("/sign-in", response_class=HTMLResponse, include_in_schema=False)
def sign_in_page(request: Request, next: str | None = None) -> Response:
    session = session_of(request) or Session.anonymous()
    return page(
        request,
        "sign_in.html",
        {"next": _safe_next(next), "error": None, "key_id": ""},
        session,
    )


@router.post("/sign-in", include_in_schema=False)
async def sign_in(request: Request) -> Response:
    form = await read_form(request)
    session = session_of(request)
    signer = signer_of(request)
    # Login CSRF: the form must come from our own sign-in page (the pre-session's token).
    if session is None or not signer.csrf_ok(session, form.get("csrf")):
        raise CsrfRefused()
    key_id, secret = form.get("access_key_id", "").strip(), form.get("secret", "")
    target = _safe_next(form.get("next"))
    who = (request.client.host if request.client else "", key_id)
    if len(_recent_failures(who)) >= FAILED_SIGN_INS_PER_MINUTE:
        error = "Too many failed sign-ins for this key; wait a minute and try again."
        return page(
            request,
            "sign_in.html",
            {"next": target, "error": error, "key_id": key_id},
            session,
            status=429,
        )
    runtime = runtime_of(request)
    valid = await run_in_threadpool(runtime.keys.check_secret, key_id, secret)
    if not valid:
        _failures[who].append(time.monotonic())
        error = "The access key id or secret is not valid."
        return page(
            request,
            "sign_in.html",
            {"next": target, "error": error, "key_id": key_id},
            session,
            status=401,
        )
    signed_in = session.signed_in_as(key_id, secret_fingerprint(signer.key, secret))
    response = redirect(request, target)
    set_session_cookie(request, response, signed_in)
    return response


@router.post("/sign-out", include_in_schema=False)
async def sign_out(request: Request) -> Response:
    await posted(request)
    response = redirect(request, "/console/sign-in", notice="Signed out.")
    response.delete_cookie(COOKIE, path="/console")
    return response


def sign_in_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/console/sign-in?next={quote(target, safe='')}"
