"""The optional bearer token: who may read the site, and how a browser or a feed reader signs in."""

from __future__ import annotations

import hmac
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from monitor.web.deps import API
from monitor.web.templating import error_page

# Paths machines read: they get JSON (or a bare status) on refusal, never an HTML page or a cookie dance.
MACHINE_PREFIXES = (API + "/", "/feeds/", "/openapi.json", "/metrics")


def token_matches(given: str | None, token: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


class TokenGuard:
    """Require `Authorization: Bearer T` (or the `token` cookie) everywhere but /healthz.

    A browser visits /?token=T once: the token goes into an HttpOnly cookie and the URL is cleaned. Feed
    readers, which cannot send headers, may put ?token=T in a feed's URL.
    """

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == "/healthz":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        path = request.url.path
        query_token = request.query_params.get("token")
        page = not path.startswith(MACHINE_PREFIXES)
        if query_token is not None and page:
            if not token_matches(query_token, self.token):
                await self._refuse(request)(scope, receive, send)
                return
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            redirect = RedirectResponse(path + ("?" + urlencode(rest) if rest else ""), status_code=303)
            redirect.set_cookie("token", self.token, httponly=True, samesite="strict", path="/")
            await redirect(scope, receive, send)
            return
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        given = credentials.strip() if scheme.lower() == "bearer" else request.cookies.get("token")
        feed_reader = path.startswith("/feeds/") and token_matches(query_token, self.token)
        if feed_reader or token_matches(given, self.token):
            await self.app(scope, receive, send)
            return
        await self._refuse(request)(scope, receive, send)

    def _refuse(self, request: Request) -> Response:
        headers = {"WWW-Authenticate": 'Bearer realm="news-monitor"'}
        message = "a valid bearer token is required (Authorization: Bearer TOKEN)"
        if request.url.path.startswith(MACHINE_PREFIXES):
            return JSONResponse({"detail": message}, status_code=401, headers=headers)
        return error_page(request, 401, "Open this site once as /?token=TOKEN to sign in.", headers=headers)
