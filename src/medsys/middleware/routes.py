"""The middleware's API. Every route needs a token; a patient (the portal signs a
one-minute token for its logged-in patient) reaches only that patient's records. The apps
are called with a token of the middleware's own whose signed ``act`` claim names the
person, so each app checks that person's rights and its audit log names them."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import pydantic_core
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from medsys.core import route_parameters
from medsys.core.api_docs import PATIENT_RUT_RULES, PatientRut, errors
from medsys.core.auth import Caller, authenticate
from medsys.core.errors import Forbidden, InvalidInput, MalformedRequest
from medsys.core.request_parts import idempotency_key_of, rut_of
from medsys.core.tokens import Actor, Role, Scope, Service
from medsys.middleware import fhir, transform
from medsys.middleware.answers import (
    AccessLogOut,
    AccountContactOut,
    BillablesOut,
    DoctorsOut,
    FhirBundleOut,
    MedicalHistoryOut,
    PatientWithCoverageOut,
    PaymentOut,
    SlotOut,
    SlotsOut,
    SummaryOut,
)
from medsys.middleware.upstreams import Call, UpstreamAnswer, UpstreamUnavailable

router = APIRouter(responses=errors(400, 401, 403, 404, 409, 422, 502, 503, 504))


class JsonAnswer(JSONResponse):
    """JSON the middleware already holds as plain data, written by pydantic-core's
    serializer (the same bytes as the standard library's here, in a quarter of the time);
    NaN and infinities become null, so the answer is always valid JSON."""

    def render(self, content: Any) -> bytes:
        return pydantic_core.to_json(content, inf_nan_mode="null")


class FhirResponse(JsonAnswer):
    media_type = "application/fhir+json"


CLINICAL_READERS = (Role.PATIENT, Role.DOCTOR, Role.NURSE)
ADMIN_READERS = (Role.PATIENT, Role.CLERK, Role.ACCOUNTANT)
ANYONE = tuple(role for role in Role if role is not Role.SERVICE)


def _caller_of(request: Request, roles: tuple[Role, ...], errand: Scope | None = None) -> Caller:
    """The request's caller, if its token is good and its role among ``roles``. No session
    check: staff sessions live in the apps; a session's token never names us."""
    return authenticate(request.headers, request.app.state.verifier, roles, errand=errand)


def _caller(*roles: Role, errand: Scope | None = None) -> Any:
    # async although it never awaits: FastAPI runs a plain `def` dependency in a worker
    # thread, a hand-off per request that cost more than the token check itself.
    async def dependency(request: Request) -> Caller:
        return _caller_of(request, roles, errand)

    return dependency


ClinicalReader = Annotated[Caller, Depends(_caller(*CLINICAL_READERS))]
AdminReader = Annotated[Caller, Depends(_caller(*ADMIN_READERS))]
Anyone = Annotated[Caller, Depends(_caller(*ANYONE))]
Payer = Annotated[Caller, Depends(_caller(Role.PATIENT, Role.ACCOUNTANT))]
# Booking: a patient for themselves, the care team, and the front office on the phone.
Booker = Annotated[Caller, Depends(_caller(Role.PATIENT, Role.DOCTOR, Role.NURSE, Role.CLERK))]
CareTeam = Annotated[Caller, Depends(_caller(Role.DOCTOR, Role.NURSE))]
# The portal before anyone logged in, looking up where to mail an account link.
AccountLinkErrand = Annotated[Caller, Depends(_caller(Role.PATIENT, errand=Scope.ACCOUNT_LINK))]


def authorize_patient(caller: Caller, rut: str) -> None:
    """A patient reaches only their own records (the apps check it again)."""
    if not caller.may_reach(rut):
        raise Forbidden("Solo puede consultar sus propios datos.")


def _call(
    request: Request, caller: Caller, upstream: str, method: str, path: str, **extra: Any
) -> Call:
    """A call to ``upstream`` with a token of ours, for that service only, that names the
    person we act for (signed, so the app checks and audits that person)."""
    person = Actor(caller.claims.subject, caller.claims.role, caller.claims.issuer)
    token = request.app.state.relay_tokens.token(
        Role.SERVICE,
        "middleware",
        audience=Service(upstream),
        acting_for=person,
        scope=caller.claims.scope,  # a narrowed call stays narrowed downstream
    )
    headers = {"Authorization": f"Bearer {token}", "X-Request-ID": request.state.request_id}
    if extra.get("idempotency_key"):
        headers["Idempotency-Key"] = extra["idempotency_key"]
    return Call(method=method, path=path, headers=headers, **extra)


def _unavailable(what: str, error: UpstreamUnavailable) -> JsonAnswer:
    return JsonAnswer(
        {
            "error": "unavailable",
            "message": f"{what} no está disponible temporalmente.",
            "upstream": error.upstream,
            "attempts": [f"{i}: {why}" for i, why in error.attempts],
        },
        status_code=503,
    )


async def _forward(request: Request, upstream: str, call: Call, what: str) -> Any:
    """Pass an upstream's answer on: 2xx as data, 4xx as it came, unavailable as 503."""
    try:
        answer = await request.app.state.gateway.call(request.app.state.upstreams[upstream], call)
        return JsonAnswer(answer.body, status_code=answer.status)
    except UpstreamAnswer as answer:
        return JsonAnswer(answer.body, status_code=answer.status)
    except UpstreamUnavailable as error:
        return _unavailable(what, error)


async def _admin_read(request: Request, caller: Caller, rut: str, path: str, what: str) -> Any:
    """One patient's record from admin, passed on as admin answers it; ``path`` is
    admin's, with ``{rut}`` for the patient's normalised RUT."""
    wanted = rut_of(rut)
    authorize_patient(caller, wanted)
    call = _call(request, caller, "admin", "GET", path.format(rut=wanted))
    return await _forward(request, "admin", call, what)


async def _both(
    request: Request,
    caller: Caller,
    rut: str,
    page: int,
    per_page: int,
    admin_path: str | None,
) -> tuple[Any, Any]:
    """Clinical and admin at once. When clinical cannot answer, admin is not waited for:
    the client gets its 503 as fast as the open breakers allow. No ``admin_path``: admin
    is not called at all (its answer is then None)."""
    state = request.app.state
    refusing = state.upstreams["clinical"].refusing()
    if refusing is not None:
        return refusing, None
    history = _call(
        request,
        caller,
        "clinical",
        "GET",
        f"/api/patients/{rut}/history",
        params={"page": page, "per_page": per_page},
    )
    clinical_call = state.gateway.call(state.upstreams["clinical"], history)
    if admin_path is None:  # awaited in place: a task of its own would only cost a hop
        try:
            return (await clinical_call).body, None
        except (UpstreamAnswer, UpstreamUnavailable) as error:
            return error, None
    clinical = asyncio.ensure_future(clinical_call)
    admin = asyncio.ensure_future(
        state.gateway.call(
            state.upstreams["admin"], _call(request, caller, "admin", "GET", admin_path)
        )
    )
    try:
        clinical_answer: Any = (await clinical).body
    except (UpstreamAnswer, UpstreamUnavailable) as error:
        admin.cancel()
        return error, None
    try:
        admin_answer: Any = (await admin).body
    except (UpstreamAnswer, UpstreamUnavailable) as error:
        admin_answer = error
    return clinical_answer, admin_answer


def _admin_part(result: Any) -> tuple[dict[str, Any] | None, list[str]]:
    if isinstance(result, UpstreamAnswer) and result.status == 404:
        return None, []  # not registered in admin: nothing is missing, there is nothing
    if isinstance(result, BaseException):
        return None, ["datos administrativos (nombre, previsión, facturas)"]
    return result, []


class HistoryParameters(BaseModel):
    """The history's parameters (read by ``core.route_parameters``: see why there)."""

    rut: Annotated[str, Field(**PATIENT_RUT_RULES)]
    page: Annotated[int, Field(ge=1, le=10_000)] = 1
    per_page: Annotated[int, Field(ge=1, le=100)] = 20
    demographics: Annotated[
        bool,
        Field(
            description="false: the consultations only, for a page that shows no "
            "demographics; admin is not called (no access to its record, no audit row "
            "there, and its outage does not make the answer partial); `patient` is null"
        ),
    ] = True


@router.get(
    "/api/medical-history/{rut}",
    tags=["patients"],
    response_model=MedicalHistoryOut,
    openapi_extra=route_parameters.documented(HistoryParameters, path=("rut",)),
)
async def medical_history(request: Request) -> Any:
    """The patient's clinical history in plain words, joined with demographics. Admin
    down: served, marked partial. Both clinical instances down: 503 at once."""
    # The caller first (a 401 or 403 before any 422, as on every route), checked here and
    # not as a dependency for the reason the parameters are read by hand.
    caller = _caller_of(request, CLINICAL_READERS)
    asked = route_parameters.read(HistoryParameters, request)
    page, per_page, demographics = asked.page, asked.per_page, asked.demographics
    wanted = rut_of(asked.rut)
    authorize_patient(caller, wanted)
    admin_path = f"/patients/{wanted}" if demographics else None
    clinical, admin = await _both(request, caller, wanted, page, per_page, admin_path)
    if isinstance(clinical, UpstreamAnswer):
        return JsonAnswer(clinical.body, status_code=clinical.status)
    if isinstance(clinical, UpstreamUnavailable):
        return _unavailable("El historial clínico", clinical)
    if isinstance(clinical, BaseException):
        raise clinical
    admin_part, missing = _admin_part(admin)
    # Already plain JSON data: a JsonAnswer skips FastAPI's recursive jsonable_encoder,
    # which cost more than the transformation itself on a long history.
    return JsonAnswer(transform.medical_history(wanted, clinical, admin_part, missing))


@router.get(
    "/fhir/Patient/{rut}/$everything",
    tags=["fhir"],
    response_model=FhirBundleOut,
    response_class=FhirResponse,
)
async def fhir_everything(rut: PatientRut, request: Request, caller: ClinicalReader) -> Any:
    """The patient's record as a FHIR R4 Bundle (searchset)."""
    wanted = rut_of(rut)
    authorize_patient(caller, wanted)
    clinical, admin = await _both(request, caller, wanted, 1, 100, f"/patients/{wanted}/summary")
    if isinstance(clinical, UpstreamAnswer):
        return JsonAnswer(clinical.body, status_code=clinical.status)
    if isinstance(clinical, UpstreamUnavailable):
        return _unavailable("El historial clínico", clinical)
    if isinstance(clinical, BaseException):
        raise clinical
    admin_part, missing = _admin_part(admin)
    bundle = fhir.everything(wanted, clinical, admin_part)
    if missing:
        bundle["entry"].append(fhir.incomplete_outcome(missing))
    return FhirResponse(bundle)


@router.get("/api/access-log/{rut}", tags=["patients"], response_model=AccessLogOut)
async def access_log(rut: PatientRut, request: Request, caller: AdminReader) -> Any:
    """Who looked at the patient's record, from both services, newest first."""
    wanted = rut_of(rut)
    authorize_patient(caller, wanted)
    state = request.app.state
    parts = {
        "clínico": ("clinical", f"/api/patients/{wanted}/access-log"),
        "administrativo": ("admin", f"/patients/{wanted}/access-log"),
    }
    calls = [
        state.gateway.call(state.upstreams[upstream], _call(request, caller, upstream, "GET", path))
        for upstream, path in parts.values()
    ]
    results = await asyncio.gather(*calls, return_exceptions=True)
    entries, missing = [], []
    for service, result in zip(parts, results, strict=True):
        if isinstance(result, BaseException):
            missing.append(f"registro {service}")
            continue
        entries += [{**entry, "service": service} for entry in result.body["entries"]]
    entries.sort(key=lambda entry: entry["at"], reverse=True)
    return JsonAnswer(
        {"rut": wanted, "entries": entries, "partial": bool(missing), "missing": missing}
    )


@router.get("/api/patient/{rut}", tags=["patients"], response_model=SummaryOut)
async def patient_summary(rut: PatientRut, request: Request, caller: AdminReader) -> Any:
    """Demographics, coverage, invoices and balance (from admin)."""
    what = "La información administrativa"
    return await _admin_read(request, caller, rut, "/patients/{rut}/summary", what)


@router.get("/api/account-contact/{rut}", tags=["patients"], response_model=AccountContactOut)
async def account_contact(rut: PatientRut, request: Request, caller: AccountLinkErrand) -> Any:
    """Name and e-mail address on file (from admin), for the portal to mail an account
    link before anyone logged in. Only a token narrowed to that errand is taken."""
    what = "El registro de pacientes"
    return await _admin_read(request, caller, rut, "/patients/{rut}/account-contact", what)


@router.get("/api/patients", tags=["patients"], response_model=list[PatientWithCoverageOut])
async def find_patients(
    request: Request,
    caller: CareTeam,
    q: Annotated[str | None, Query(max_length=80)] = None,
    rut: Annotated[list[str] | None, Query(max_length=100)] = None,
    per_page: Annotated[int, Query(ge=1, le=100)] = 30,
) -> Any:
    """Patients by name or RUT fragment (`q`) or by RUTs, with current coverage (from
    admin): the clinical workspace's agenda and patient search, for the care team."""
    ruts = [rut_of(text) for text in rut or []]
    params: dict[str, Any] = {"per_page": per_page}
    if q:
        params["q"] = q
    if ruts:
        params["rut"] = ruts
    if not (q or ruts):
        raise InvalidInput("Indique 'q' (nombre o RUT) o uno o más 'rut'.")
    return await _forward(
        request,
        "admin",
        _call(request, caller, "admin", "GET", "/patients", params=params),
        "El registro de pacientes",
    )


@router.get("/api/billable", tags=["payments"], response_model=BillablesOut)
async def billable(
    request: Request,
    caller: Annotated[Caller, Depends(_caller(Role.ACCOUNTANT))],
    closed_since: Annotated[str | None, Query(max_length=40)] = None,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Any:
    """Finished consultations in closing order after the cursor (`closed_since`, an ISO
    instant, and `after`, the id among those closed at that instant), for admin's charge
    capture (clinical, acting for an accountant)."""
    cursor: dict[str, Any] = {"after": after, "limit": limit}
    if closed_since is not None:
        cursor["closed_since"] = closed_since
    return await _forward(
        request,
        "clinical",
        _call(
            request,
            caller,
            "clinical",
            "GET",
            "/api/billable",
            params=cursor,
        ),
        "La agenda clínica",
    )


@router.get("/api/payments/{rut}", tags=["payments"], response_model=list[PaymentOut])
async def payments(rut: PatientRut, request: Request, caller: AdminReader) -> Any:
    return await _admin_read(request, caller, rut, "/payments/{rut}", "El registro de pagos")


@router.post(
    "/api/payments",
    tags=["payments"],
    status_code=201,
    response_model=PaymentOut,
    responses={
        200: {"model": PaymentOut, "description": "Ya registrado con esta Idempotency-Key."}
    },
)
async def pay(
    request: Request,
    caller: Payer,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> Any:
    """Passed to admin with the client's Idempotency-Key: a retry never pays twice."""
    key = idempotency_key_of(idempotency_key)
    body = await _json_body(request)
    authorize_patient(caller, rut_of(str(body.get("patient_rut", ""))))
    call = _call(request, caller, "admin", "POST", "/payments", json=body, idempotency_key=key)
    return await _forward(request, "admin", call, "El registro de pagos")


@router.get("/api/doctors", tags=["availability"], response_model=DoctorsOut)
async def doctors(request: Request, caller: Anyone, specialty: str | None = None) -> Any:
    params = {"specialty": specialty} if specialty else None
    return await _forward(
        request,
        "clinical",
        _call(request, caller, "clinical", "GET", "/api/doctors", params=params),
        "La lista de médicos",
    )


@router.get("/api/slots", tags=["availability"], response_model=SlotsOut)
async def slots(request: Request, caller: Anyone) -> Any:
    allowed = ("specialty", "doctor_id", "from", "to", "limit")
    params = {k: v for k, v in request.query_params.items() if k in allowed}
    call = _call(request, caller, "clinical", "GET", "/api/slots", params=params)
    return await _forward(request, "clinical", call, "La agenda")


@router.post("/api/slots/{slot_id}/reserve", tags=["availability"], response_model=SlotOut)
async def reserve(
    slot_id: int,
    request: Request,
    caller: Booker,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> Any:
    key = idempotency_key_of(idempotency_key)
    body = await _json_body(request)
    authorize_patient(caller, rut_of(str(body.get("patient_rut", ""))))
    path = f"/api/slots/{slot_id}/reserve"
    call = _call(request, caller, "clinical", "POST", path, json=body, idempotency_key=key)
    return await _forward(request, "clinical", call, "La agenda")


@router.post("/api/slots/{slot_id}/release", tags=["availability"], response_model=SlotOut)
async def release(
    slot_id: int,
    request: Request,
    caller: Booker,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> Any:
    key = idempotency_key_of(idempotency_key)
    path = f"/api/slots/{slot_id}/release"
    call = _call(request, caller, "clinical", "POST", path, idempotency_key=key)
    return await _forward(request, "clinical", call, "La agenda")


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise MalformedRequest("El cuerpo debe ser un objeto JSON.")
    return body
