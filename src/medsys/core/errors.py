"""The one exception tree of the services. Each app maps it to HTTP in one place.

``MedsysError`` carries an HTTP status and a message for a person (in Spanish: staff and
patients read it):

- ``InvalidInput`` 400/422: malformed or invalid data; nothing was written.
- ``Unauthenticated`` 401: no valid token.
- ``Forbidden`` 403: a valid token whose role or subject may not do this.
- ``NotFound`` 404.
- ``Conflict`` 409: the request clashes with the current state (slot taken, duplicate RUT).
- ``core.staff.Locked`` 429: too many failed logins for an account or an address.
- ``Unavailable`` 503: a dependency is down; the answer says so instead of inventing data.
"""

from __future__ import annotations

from typing import Any


class MedsysError(Exception):
    status = 500
    code = "error"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return body


class InvalidInput(MedsysError):
    status = 422
    code = "invalid_input"


class MalformedRequest(InvalidInput):
    status = 400
    code = "malformed_request"


class Unauthenticated(MedsysError):
    status = 401
    code = "unauthenticated"


class Forbidden(MedsysError):
    status = 403
    code = "forbidden"


class NotFound(MedsysError):
    status = 404
    code = "not_found"


class Conflict(MedsysError):
    status = 409
    code = "conflict"


class Unavailable(MedsysError):
    status = 503
    code = "unavailable"
