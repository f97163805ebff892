"""The web console at /ui/: three static files shipped in the package (audit/api/ui/), plain
JavaScript that signs in with an API token (kept in sessionStorage, never in a URL) and calls
this API. No authentication here: the files hold no data; every call they make carries the
token. A strict Content-Security-Policy allows nothing but these files and this API."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import RedirectResponse, Response

router = APIRouter(prefix="/ui", include_in_schema=False)

#: the console's files and their media types: nothing else is ever served
ASSETS = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@cache
def _asset(name: str) -> bytes:
    return files("audit.api").joinpath("ui", name).read_bytes()


@router.get("")
def console_root() -> RedirectResponse:
    return RedirectResponse("/ui/", status.HTTP_308_PERMANENT_REDIRECT)


@router.get("/")
def console_index() -> Response:
    return asset("index.html")


@router.get("/{name}")
def asset(name: str) -> Response:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no console file {name}")
    return Response(_asset(name), media_type=media_type, headers=HEADERS)
