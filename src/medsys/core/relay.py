"""Calls to the middleware on behalf of a logged-in person: the portal for its patient,
the clinical workspace for its doctor or nurse. Each call carries a one-minute token the
calling service signs for that person alone (audience: the middleware), so every check and
every audit row downstream names them. The front office also uses one straight to the
portal (audience: the portal), for the one errand it has there.

urllib3's pool rather than httpx: this call is on every page, and httpx's client was a
quarter of the portal's CPU per page (py-spy, 50 patients). A GET that meets a kept-alive
connection the middleware just closed is sent once more; anything else is never repeated
here (the middleware retries what is safe).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import urllib3

from medsys.core.tokens import RELAY_LIFETIME, Role, Scope, Service, SigningKey, TokenCache

_RETRIES = urllib3.Retry(total=1, connect=1, read=1, status=0, redirect=0, allowed_methods={"GET"})


class Unavailable(Exception):
    """The middleware (or what is behind it) cannot answer now."""


class Refused(Exception):
    """The middleware answered with a 4xx: ``message`` says why, in Spanish."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class MiddlewareClient:
    def __init__(
        self,
        base_url: str,
        signer: SigningKey,
        timeout: float = 10.0,
        *,
        audience: Service = Service.MIDDLEWARE,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._audience = audience
        self._pool = urllib3.PoolManager(
            maxsize=8,  # one per gunicorn thread
            timeout=urllib3.Timeout(connect=2.0, read=timeout),
            retries=_RETRIES,
        )
        self._tokens = TokenCache(signer, lifetime=RELAY_LIFETIME)

    def send(
        self,
        method: str,
        path: str,
        *,
        role: Role,
        subject: str,
        request_id: str | None = None,
        key: str | None = None,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        errand: Scope | None = None,
    ) -> Any:
        token = self._tokens.token(role, subject, audience=self._audience, scope=errand)
        headers = {"Authorization": f"Bearer {token}"}
        if request_id:
            headers["X-Request-ID"] = request_id
        if key:
            headers["Idempotency-Key"] = key
        url = self._base + path
        if params:
            url += "?" + urlencode(params, doseq=True)
        try:
            response = self._pool.request(method, url, headers=headers, json=json_body)
        except urllib3.exceptions.HTTPError as error:
            raise Unavailable(str(error)) from None
        if response.status >= 500:
            raise Unavailable(f"HTTP {response.status}")
        try:
            body = json.loads(response.data)
        except ValueError:
            body = {}
        if response.status >= 400:
            message = body.get("message") if isinstance(body, dict) else None
            raise Refused(response.status, str(message or "Solicitud rechazada."))
        return body

    def health(self) -> bool:
        try:
            answer = self._pool.request("GET", self._base + "/health", timeout=2.0)
        except urllib3.exceptions.HTTPError:
            return False
        return answer.status == 200
