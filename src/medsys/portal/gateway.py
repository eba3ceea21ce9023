"""The portal's only way to clinical and admin data: the middleware, with the portal's
service token, acting for the logged-in patient (so every audit log names the patient)."""

from __future__ import annotations

from typing import Any

import httpx

from medsys.core.tokens import Role, issue_token


class Unavailable(Exception):
    """The middleware (or what is behind it) cannot answer now."""


class Refused(Exception):
    """The middleware answered with a 4xx: ``message`` says why, in Spanish."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Middleware:
    def __init__(self, base_url: str, token_key: str, timeout: float = 10.0) -> None:
        self._client = httpx.Client(base_url=base_url, timeout=timeout)
        self._key = token_key

    def _headers(self, rut: str, request_id: str | None, key: str | None = None) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {issue_token(self._key, Role.SERVICE, 'portal')}",
            "X-Acting-For": rut,
            "X-Acting-Role": "patient",
        }
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
        **kwargs: Any,
    ) -> Any:
        try:
            response = self._client.request(
                method, path, headers=self._headers(rut, request_id, key), **kwargs
            )
        except httpx.HTTPError as error:
            raise Unavailable(str(error)) from None
        if response.status_code >= 500:
            raise Unavailable(f"HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code >= 400:
            raise Refused(response.status_code, str(body.get("message", "Solicitud rechazada.")))
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
        return dict(self._send("POST", "/api/payments", rut, key=key, json=body))

    def doctors(self, rut: str, specialty: str | None = None) -> list[dict[str, Any]]:
        params = {"specialty": specialty} if specialty else None
        return list(self._send("GET", "/api/doctors", rut, params=params)["doctors"])

    def slots(self, rut: str, **filters: Any) -> list[dict[str, Any]]:
        params = {k: v for k, v in filters.items() if v not in (None, "")}
        return list(self._send("GET", "/api/slots", rut, params=params)["slots"])

    def reserve(self, rut: str, slot_id: int, key: str) -> dict[str, Any]:
        return dict(
            self._send(
                "POST", f"/api/slots/{slot_id}/reserve", rut, key=key, json={"patient_rut": rut}
            )
        )

    def release(self, rut: str, slot_id: int, key: str) -> dict[str, Any]:
        return dict(self._send("POST", f"/api/slots/{slot_id}/release", rut, key=key))

    def health(self) -> bool:
        try:
            return self._client.get("/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False
