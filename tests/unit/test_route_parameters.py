"""core.route_parameters against FastAPI's own parameter handling: two small apps, one that
declares the parameters one by one as FastAPI resolves them, one that reads them with
``route_parameters``; the same requests must get the same answers and the same OpenAPI
parameters."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from fastapi import FastAPI, Path, Query, Request
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from medsys.core import route_parameters
from medsys.core.api_docs import PATIENT_RUT_RULES
from medsys.core.api_errors import register_error_handlers


class Asked(BaseModel):
    rut: Annotated[str, Field(**PATIENT_RUT_RULES)]
    page: Annotated[int, Field(ge=1, le=10_000)] = 1
    per_page: Annotated[int, Field(ge=1, le=100)] = 20
    demographics: Annotated[bool, Field(description="with admin's part")] = True


def by_fastapi() -> FastAPI:
    app = FastAPI()
    register_error_handlers(app)

    @app.get("/history/{rut}")
    async def history(
        rut: Annotated[str, Path(**PATIENT_RUT_RULES)],
        page: Annotated[int, Query(ge=1, le=10_000)] = 1,
        per_page: Annotated[int, Query(ge=1, le=100)] = 20,
        demographics: Annotated[bool, Query(description="with admin's part")] = True,
    ) -> dict[str, Any]:
        return {"rut": rut, "page": page, "per_page": per_page, "demographics": demographics}

    return app


def by_model() -> FastAPI:
    app = FastAPI()
    register_error_handlers(app)

    @app.get("/history/{rut}", openapi_extra=route_parameters.documented(Asked, path=("rut",)))
    async def history(request: Request) -> dict[str, Any]:
        return route_parameters.read(Asked, request).model_dump()

    return app


ASKED = [
    "/history/11111111-1",
    "/history/11111111-1?page=3&per_page=100&demographics=false",
    "/history/11111111-1?demographics=no&unknown=1",
    "/history/11111111-1?page=2&page=5",  # repeated: the last one counts
    "/history/1",  # too short
    "/history/" + "9" * 15,  # too long
    "/history/11111111-1?page=0",
    "/history/11111111-1?per_page=101&page=abc",  # two problems at once
    "/history/11111111-1?demographics=maybe",
    "/history/11111111-1?demographics=",
    "/history/11111111-1?rut=22222222-2",  # a query value never replaces the path's
]


@pytest.mark.parametrize("asked", ASKED)
def test_the_same_request_gets_the_same_answer(asked: str) -> None:
    expected = TestClient(by_fastapi()).get(asked)
    answered = TestClient(by_model()).get(asked)
    assert (answered.status_code, answered.json()) == (expected.status_code, expected.json())


def test_a_bad_value_is_a_422_naming_its_field() -> None:
    answered = TestClient(by_model()).get("/history/11111111-1?per_page=0")
    assert answered.status_code == 422
    assert [problem["campo"] for problem in answered.json()["details"]] == ["per_page"]


def test_the_documented_parameters_are_the_ones_fastapi_writes() -> None:
    def parameters(app: FastAPI) -> list[dict[str, Any]]:
        operation = app.openapi()["paths"]["/history/{rut}"]["get"]
        return sorted(operation["parameters"], key=lambda parameter: parameter["name"])

    assert parameters(by_model()) == parameters(by_fastapi())
