"""Clinical's OpenAPI document, built from the Flask app itself: every JSON route with its
methods and path parameters, the roles ``web.requires`` lets in, and the request body model
each view validates with (found among the names its code uses). Hand-made because Flask has
no such document of its own, and read from the routes so it cannot drift from them."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator
from types import CodeType
from typing import Any

from flask import Flask
from pydantic import BaseModel
from werkzeug.routing import Rule

from medsys.core.api_docs import DESCRIPTIONS

DOCUMENTED = ("/api/", "/auth/", "/consultas", "/medicos", "/health")
ROLE_ATTRIBUTE = "medsys_roles"
_CONVERTER = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")
_TYPES = {"int": "integer", "float": "number"}
ERROR_BODY = {
    "type": "object",
    "properties": {
        "error": {"type": "string"},
        "message": {"type": "string"},
        "details": {"type": "array", "items": {"type": "object"}},
    },
    "required": ["error", "message"],
}


def _path(rule: Rule) -> tuple[str, list[dict[str, Any]]]:
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": _TYPES.get(converter or "", "string")},
        }
        for converter, name in _CONVERTER.findall(rule.rule)
    ]
    return _CONVERTER.sub(lambda m: "{" + m.group(2) + "}", rule.rule), parameters


def _codes(code: CodeType) -> Iterator[CodeType]:
    yield code
    for constant in code.co_consts:
        if isinstance(constant, CodeType):
            yield from _codes(constant)


def body_model(view: Callable[..., Any]) -> type[BaseModel] | None:
    """The request model a view validates with: a pydantic model named ``...In`` (or
    ``...Patch``) that its
    code (or a function inside it) refers to."""
    function = inspect.unwrap(view)
    names = {name for code in _codes(function.__code__) for name in code.co_names}
    for name in sorted(names):
        found = function.__globals__.get(name)
        if (
            isinstance(found, type)
            and issubclass(found, BaseModel)
            and found.__name__.endswith(("In", "Patch"))
        ):
            return found
    return None


def document(app: Flask, *, title: str, version: str = "1.0") -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {"Error": ERROR_BODY}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith(DOCUMENTED):
            continue
        view = app.view_functions[rule.endpoint]
        path, parameters = _path(rule)
        roles = getattr(view, ROLE_ATTRIBUTE, None)
        described = inspect.getdoc(inspect.unwrap(view)) or ""
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            operation: dict[str, Any] = {
                "tags": [rule.endpoint.split(".")[0]],
                "operationId": f"{rule.endpoint}_{method.lower()}",
                "summary": described.splitlines()[0] if described else rule.endpoint,
                "parameters": parameters,
                "responses": {"200": {"description": "Correcto"}},
            }
            if len(described.splitlines()) > 1:
                operation["description"] = described
            if roles is not None:
                operation["security"] = [{"bearer": []}]
                operation["description"] = (
                    operation.get("description", "") + "\n\nRoles: " + ", ".join(roles)
                ).strip()
                for status in (400, 401, 403, 404, 409, 422, 503):
                    operation["responses"][str(status)] = {
                        "description": DESCRIPTIONS[status],
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                        },
                    }
            model = body_model(view) if method in ("POST", "PATCH", "PUT") else None
            if model is not None:
                schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                schemas.update(schema.pop("$defs", {}))
                schemas[model.__name__] = schema
                operation["requestBody"] = {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": f"#/components/schemas/{model.__name__}"}
                        }
                    },
                }
            paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "Consultas, diagnósticos (CIE-10), tratamientos, signos vitales y "
            "disponibilidad de médicos. Todas las rutas /api piden un token (POST /auth/login).",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
