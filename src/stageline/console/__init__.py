"""The web console under /console: server-rendered pages (Jinja2), a small vanilla-JS layer for
live updates, and forms that go through the same services and checks as the API."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from stageline.console import actions, auth, live, pages
from stageline.console.session import Signer, signing_key
from stageline.console.web import STATIC, page, redirect, secure_headers
from stageline.runtime import Runtime

STATIC_TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}


async def _need_sign_in(request: Request, _exc: Exception) -> Response:
    if request.url.path.startswith("/console/events"):
        return secure_headers(
            JSONResponse({"error": "Sign in to the console first."}, status_code=401)
        )
    if request.method != "GET":  # a form sent after the session ended: nothing was done
        return redirect(request, "/console/sign-in", error="Your session ended; sign in again.")
    return redirect(request, auth.sign_in_url(request))


async def _csrf_refused(request: Request, _exc: Exception) -> Response:
    return page(
        request,
        "refused.html",
        {
            "message": "This form's security token is missing or does not match your session "
            "(CSRF protection). Reload the page and try again."
        },
        None,
        status=403,
    )


def _static(path: str) -> Response:
    """Files shipped in the package; nothing outside the static folder can be named."""
    target = (STATIC / path).resolve()
    if not target.is_relative_to(STATIC.resolve()) or not target.is_file():
        return secure_headers(HTMLResponse("Not found", status_code=404))
    response = FileResponse(target, media_type=STATIC_TYPES.get(target.suffix))
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def install(app: FastAPI, runtime: Runtime) -> None:
    """Mount the console on the app: its routes, its session signer, `GET /` → /console."""
    app.state.console_signer = Signer(signing_key(runtime.settings))
    app.add_exception_handler(auth.NeedSignIn, _need_sign_in)
    app.add_exception_handler(auth.CsrfRefused, _csrf_refused)
    app.add_api_route("/", pages.home_redirect, methods=["GET"], include_in_schema=False)
    app.add_api_route(
        "/console/static/{path:path}", _static, methods=["GET"], include_in_schema=False
    )
    for router in (auth.router, live.router, pages.router, actions.router):
        app.include_router(router)
