"""Rendering for the console: Jinja2 templates shipped in the package, the filters they use,
security headers, and reading urlencoded forms (no multipart parser needed)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from stageline import __version__
from stageline.console.session import COOKIE, FLASH_COOKIE, Session, Signer

HERE = Path(__file__).parent
STATIC = HERE / "static"
MAX_FORM_BYTES = 512 * 1024

# Everything is served from here: no CDN, no inline script, nothing framed.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

# Status → (css class, icon, words): shape and text carry the meaning, colour only adds to it.
STATUS_LOOK = {
    "Succeeded": ("ok", "check", "Succeeded"),
    "Failed": ("bad", "cross", "Failed"),
    "InProgress": ("run", "spin", "In progress"),
    "Stopping": ("warn", "stop", "Stopping"),
    "Stopped": ("off", "stop", "Stopped"),
    "Superseded": ("skip", "skip", "Superseded"),
    "Cancelled": ("off", "slash", "Cancelled"),
    "Abandoned": ("off", "slash", "Abandoned"),
    "Skipped": ("off", "skip", "Skipped"),
    "Waiting": ("warn", "clock", "Waiting"),
}
NOT_RUN = ("none", "dash", "Not run")


def status_look(status: str | None) -> tuple[str, str, str]:
    if not status:
        return NOT_RUN
    return STATUS_LOOK.get(status, ("none", "dash", status))


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None


def when(value: Any) -> str:
    moment = _as_datetime(value)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "—"


def iso(value: Any) -> str:
    moment = _as_datetime(value)
    return moment.isoformat() if moment else ""


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 10:
        return f"{max(0.0, seconds):.1f}s"  # short actions: tenths tell them apart
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def short(value: str | None, length: int = 8) -> str:
    return (value or "")[:length]


def web_link(value: Any) -> str | None:
    """Only http(s) links are drawn: a job worker or third party sets these URLs, and a
    `javascript:` one must never become a clickable link."""
    if isinstance(value, str) and value.lower().startswith(("https://", "http://")):
        return value
    return None


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, default=str)


templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters.update(
    when=when, iso=iso, duration=duration, short=short, pretty=pretty, web_link=web_link
)
templates.globals.update(status_look=status_look, version=__version__)


def signer_of(request: Request) -> Signer:
    signer: Signer = request.app.state.console_signer
    return signer


def secure_headers(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


def page(
    request: Request,
    template: str,
    context: dict[str, Any],
    session: Session | None,
    status: int = 200,
) -> HTMLResponse:
    """Render a page with the session's CSRF token and any pending flash message."""
    signer = signer_of(request)
    flash = signer.unsign("flash", request.cookies.get(FLASH_COOKIE))
    body = templates.get_template(template).render(
        request=request,
        session=session,
        csrf=signer.csrf_token(session) if session else "",
        flash=flash if isinstance(flash, dict) else None,
        now=datetime.now(UTC).isoformat(),
        **context,
    )
    response = HTMLResponse(body, status_code=status)
    if flash is not None:
        response.delete_cookie(FLASH_COOKIE, path="/console")
    if session is not None and signer.load(request.cookies.get(COOKIE)) != session:
        set_session_cookie(request, response, session)
    secure_headers(response)
    return response


def redirect(
    request: Request, url: str, *, notice: str | None = None, error: str | None = None
) -> Response:
    """303 after a form: the next page shows the outcome once (a signed flash cookie)."""
    response = RedirectResponse(url, status_code=303)
    if notice or error:
        value = signer_of(request).sign(
            "flash", {"kind": "error" if error else "notice", "text": error or notice}
        )
        response.set_cookie(
            FLASH_COOKIE,
            value,
            max_age=60,
            path="/console",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
    return secure_headers(response)


def set_session_cookie(request: Request, response: Response, session: Session) -> None:
    response.set_cookie(
        COOKIE,
        signer_of(request).dump(session),
        max_age=max(0, session.expires - int(datetime.now(UTC).timestamp())),
        path="/console",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


async def read_form_lists(request: Request) -> dict[str, list[str]]:
    """An urlencoded form body, every value of repeated fields kept; anything else is empty
    (and so carries no CSRF token)."""
    kind = request.headers.get("content-type", "")
    if not kind.startswith("application/x-www-form-urlencoded"):
        return {}
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)


async def read_form(request: Request) -> dict[str, str]:
    """As read_form_lists, the last value of each field."""
    return {key: values[-1] for key, values in (await read_form_lists(request)).items()}
