"""The portal's only way to clinical and admin data: the middleware, with a one-minute
token the portal signs for the logged-in patient alone (audience: the middleware), so
every check and every audit log downstream names that patient.

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

from medsys.core.tokens import RELAY_LIFETIME, Role, Service, SigningKey, TokenCache

_RETRIES = urllib3.Retry(total=1, connect=1, read=1, status=0, redirect=0, allowed_methods={"GET"})


class Unavailable(Exception):
    """The middleware (or what is behind it) cannot answer now."""


class Refused(Exception):
    """The middleware answered with a 4xx: ``message`` says why, in Spanish."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Middleware:
    def __init__(self, base_url: str, signer: SigningKey, timeout: float = 10.0) -> None:
        self._base = base_url.rstrip("/")
        self._pool = urllib3.PoolManager(
            maxsize=8,  # one per gunicorn thread
            timeout=urllib3.Timeout(connect=2.0, read=timeout),
            retries=_RETRIES,
        )
        self._tokens = TokenCache(signer, lifetime=RELAY_LIFETIME)

    def _headers(self, rut: str, request_id: str | None, key: str | None = None) -> dict[str, str]:
        token = self._tokens.token(Role.PATIENT, rut, audience=Service.MIDDLEWARE)
        headers = {"Authorization": f"Bearer {token}"}
        if request_id:
            headers["X-Request-ID"] = request_id
        if key:
            headers["Idempotency-Key"] = key
        return headers

    def _send(
        self,
        method: str,
        path: str,
        rut: str,
        request_id: str | None = None,
        key: str | None = None,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
    ) -> Any:
        url = self._base + path
        if params:
            url += "?" + urlencode(params)
        try:
            response = self._pool.request(
                method, url, headers=self._headers(rut, request_id, key), json=json_body
            )
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

    def history(self, rut: str, request_id: str | None = None) -> dict[str, Any]:
        return dict(
            self._send(
                "GET", f"/api/medical-history/{rut}", rut, request_id, params={"per_page": 50}
            )
        )

    def fhir(self, rut: str, request_id: str | None = None) -> dict[str, Any]:
        return dict(self._send("GET", f"/fhir/Patient/{rut}/$everything", rut, request_id))

    def access_log(self, rut: str, request_id: str | None = None) -> dict[str, Any]:
        return dict(self._send("GET", f"/api/access-log/{rut}", rut, request_id))

    def summary(self, rut: str, request_id: str | None = None) -> dict[str, Any]:
        return dict(self._send("GET", f"/api/patient/{rut}", rut, request_id))

    def pay(self, rut: str, invoice: str, amount: int, key: str) -> dict[str, Any]:
        body = {
            "patient_rut": rut,
            "amount": amount,
            "method": "tarjeta",
            "allocations": [{"invoice": invoice, "amount": amount}],
        }
        return dict(self._send("POST", "/api/payments", rut, key=key, json_body=body))

    def doctors(self, rut: str, specialty: str | None = None) -> list[dict[str, Any]]:
        params = {"specialty": specialty} if specialty else None
        return list(self._send("GET", "/api/doctors", rut, params=params)["doctors"])

    def slots(self, rut: str, **filters: Any) -> list[dict[str, Any]]:
        params = {k: v for k, v in filters.items() if v not in (None, "")}
        return list(self._send("GET", "/api/slots", rut, params=params)["slots"])

    def reserve(self, rut: str, slot_id: int, key: str) -> dict[str, Any]:
        return dict(
            self._send(
                "POST",
                f"/api/slots/{slot_id}/reserve",
                rut,
                key=key,
                json_body={"patient_rut": rut},
            )
        )

    def release(self, rut: str, slot_id: int, key: str) -> dict[str, Any]:
        return dict(self._send("POST", f"/api/slots/{slot_id}/release", rut, key=key))

    def health(self) -> bool:
        try:
            answer = self._pool.request("GET", self._base + "/health", timeout=2.0)
        except urllib3.exceptions.HTTPError:
            return False
        return answer.status == 200
