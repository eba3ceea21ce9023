"""The pure rules behind the hardening: response headers, table rights, the portal's own
address and hosts."""

from __future__ import annotations

from pathlib import Path

import pytest

from medsys.core.migrate import table_rights
from medsys.core.privacy import headers_for
from medsys.core.settings import Settings
from medsys.portal.app import portal_url, trusted_hosts


def test_every_answer_but_static_files_is_no_store() -> None:
    assert headers_for("/api/medical-history/1-9", "application/json")["Cache-Control"] == (
        "no-store"
    )
    page = headers_for("/history", "text/html; charset=utf-8")
    assert page["Cache-Control"] == "no-store"
    assert (
        page["X-Frame-Options"] == "DENY"
        and "frame-ancestors 'none'" in (page["Content-Security-Policy"])
    )
    assert "Cache-Control" not in headers_for("/look/medsys.css", "text/css")
    # The API explorer runs its own start-up script: framed never, scripted yes.
    docs = headers_for("/docs", "text/html")
    assert "Content-Security-Policy" not in docs and docs["X-Frame-Options"] == "DENY"


def test_the_application_may_only_read_and_add_to_the_audit_log() -> None:
    assert table_rights("audit_log") == "SELECT, INSERT"
    assert table_rights("alembic_version") == "SELECT"
    assert table_rights("consultations") == "SELECT, INSERT, UPDATE, DELETE"


def test_the_portal_address_is_configured_never_taken_from_a_request() -> None:
    settings = Settings(state_dir=Path("/var/lib/medsys"))
    assert portal_url(settings, {}) == "http://127.0.0.1:3003"
    configured = {"MEDSYS_PORTAL_URL": "https://portal.clinica.cl/"}
    assert portal_url(settings, configured) == "https://portal.clinica.cl"
    for bad in ("portal.clinica.cl", "ftp://x.cl", "https://x.cl/sub", "https://"):
        with pytest.raises(ValueError, match="MEDSYS_PORTAL_URL"):
            portal_url(settings, {"MEDSYS_PORTAL_URL": bad})
    hosts = trusted_hosts("https://portal.clinica.cl", " portal.interno , ")
    assert hosts == ["portal.clinica.cl", "127.0.0.1", "localhost", "portal.interno"]
