"""A hot route's parameters read with one Pydantic model, instead of FastAPI's resolution of
each parameter, and documented in OpenAPI from that same model.

Why: FastAPI (0.165) inspects every parameter's annotation again on each request. On the
middleware's history, the hop every portal page crosses and the one with a latency
target, resolving its path, query and caller parameters cost about a fifth of the
middleware's CPU per request in process, more than the transformation of the history
itself, and 4-5 points of overhead over a direct clinical call (measured interleaved);
resolving the caller as a dependency cost another tenth, so that route checks its token
in its body, with the same function the dependencies call.
What stays the same: the rules are Pydantic's, a bad value is FastAPI's
``RequestValidationError`` (so it is answered as on every route: 422, in Spanish, naming
the field), and the route's OpenAPI parameters come from the model, so the explorer and
the API fuzzer see exactly what is checked.
"""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

Parameters = TypeVar("Parameters", bound=BaseModel)


def read(model: type[Parameters], request: Request) -> Parameters:
    """The request's path and query parameters as ``model``; a query parameter named like a
    path parameter does not replace it. Unknown query parameters are ignored, as FastAPI
    does; a repeated one counts once, with its last value."""
    path = request.path_params
    values = {**request.query_params, **path}
    try:
        return model.model_validate(values)
    except ValidationError as error:
        raise RequestValidationError(
            [
                {
                    **problem,
                    "loc": ("path" if problem["loc"][0] in path else "query", *problem["loc"]),
                }
                for problem in error.errors(include_url=False)
            ]
        ) from None


def documented(model: type[BaseModel], *, path: tuple[str, ...]) -> dict[str, Any]:
    """``openapi_extra`` naming ``model``'s fields as the route's parameters: those in
    ``path`` in the path (always required), the others in the query, each with its schema
    and description as FastAPI writes them for parameters it resolves itself."""
    schema = model.model_json_schema()
    required = set(schema.get("required", ()))
    parameters = []
    for name, field_schema in schema["properties"].items():
        where = "path" if name in path else "query"
        parameter: dict[str, Any] = {
            "name": name,
            "in": where,
            "required": where == "path" or name in required,
            "schema": field_schema,
        }
        if "description" in field_schema:
            parameter["description"] = field_schema["description"]
        parameters.append(parameter)
    return {"parameters": parameters}
