"""`/health` judges by default and only reports for Kubernetes' readiness probe."""

from medsys.core.health import health_status


def test_health_judges_the_database_unless_asked_for_readiness() -> None:
    assert health_status(True, {}) == 200
    assert health_status(False, {}) == 503
    assert health_status(False, {"for": "readiness"}) == 200
    assert health_status(False, {"for": "anything else"}) == 503
