"""What `/health` answers with, shared by the applications.

Without a query it judges: 503 while the service's database has no primary, so the
middleware's breakers and `medsys up` see a service that cannot work. With
``?for=readiness`` it only reports: 200 whenever the process serves, the database state
in the body. Kubernetes asks that way (deploy/k8s): a pod dropped from its Service while
the database fails over would turn honest 503s into refused connections for everyone.
"""

from __future__ import annotations

from collections.abc import Mapping

READINESS = "readiness"


def health_status(usable: bool, query: Mapping[str, str]) -> int:
    if usable or query.get("for") == READINESS:
        return 200
    return 503
