"""The portal's only way to clinical and admin data: the middleware, with a one-minute
token the portal signs for the logged-in patient alone (see ``medsys.core.relay``)."""

from __future__ import annotations

from typing import Any

from medsys.core.relay import MiddlewareClient, Refused, Unavailable
from medsys.core.tokens import Role, Scope

__all__ = ["Middleware", "Refused", "Unavailable"]


class Middleware(MiddlewareClient):
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
        return self.send(
            method,
            path,
            role=Role.PATIENT,
            subject=rut,
            request_id=request_id,
            key=key,
            params=params,
            json_body=json_body,
        )

    def account_contact(self, rut: str) -> dict[str, Any]:
        """Name and e-mail address on file, before anyone logged in: the token names the
        RUT typed but is narrowed to this one lookup, and audited as the portal's."""
        return dict(
            self.send(
                "GET",
                f"/api/account-contact/{rut}",
                role=Role.PATIENT,
                subject=rut,
                errand=Scope.ACCOUNT_LINK,
            )
        )

    def history(self, rut: str, request_id: str | None = None) -> dict[str, Any]:
        # The history page shows no demographics: asking for them would read (and audit)
        # the patient's admin record for nothing, and make every page cross four hops.
        params = {"per_page": 50, "demographics": "false"}
        path = f"/api/medical-history/{rut}"
        return dict(self._send("GET", path, rut, request_id, params=params))

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
