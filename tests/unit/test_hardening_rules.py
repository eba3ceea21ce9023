"""The pure rules behind the hardening: response headers, table rights, the portal's own
address and hosts."""

from __future__ import annotations

from pathlib import Path

import pytest

from medsys.core.migrate import table_rights
from medsys.core.privacy import headers_for
from medsys.core.request_guard import unstorable_in
from medsys.core.scrape import may_scrape, scrape_token
from medsys.core.settings import Settings
from medsys.core.validation import contains_pattern
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
    # The API explorer runs its own inline start-up script, and loads nothing from elsewhere.
    docs = headers_for("/docs", "text/html")
    assert "'unsafe-inline'" in docs["Content-Security-Policy"]
    assert "img-src 'self' data:" in docs["Content-Security-Policy"]
    assert docs["X-Frame-Options"] == "DENY"


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
    in_compose = trusted_hosts("https://portal.clinica.cl", service_name="app3")
    assert in_compose == ["portal.clinica.cl", "127.0.0.1", "localhost", "app3"]


def test_metrics_answer_this_machine_or_the_scrape_token_only() -> None:
    token = "s" * 16 + "t" * 16
    assert may_scrape("127.0.0.1", None, "")
    assert may_scrape("::1", None, token)
    assert not may_scrape("172.18.0.5", None, token)
    assert not may_scrape("172.18.0.5", "Bearer wrong", token)
    assert may_scrape("172.18.0.5", f"Bearer {token}", token)
    assert not may_scrape("172.18.0.5", "Bearer ", "")  # no token configured: none works
    assert not may_scrape(None, None, "")
    with pytest.raises(ValueError, match="at least 32"):
        scrape_token("short")
    assert scrape_token("") == ""


def test_unstorable_characters_are_found_wherever_a_request_carries_them() -> None:
    assert unstorable_in("/patients", "q=ana%00", "", b"") == "q"
    assert unstorable_in("/patients/1%002", "", "", b"") == "(ruta)"
    body = b'{"nombre": "Ana", "contacto": {"telefono": "9\\u0000"}}'
    assert unstorable_in("/patients", "", "application/json", body) == "contacto.telefono"
    assert unstorable_in("/x", "", "application/json", b'["a", "b\\u0000"]') == "1"
    assert unstorable_in("/x", "", "application/x-www-form-urlencoded", b"a=1&b=%00") == "b"
    assert unstorable_in("/x", "q=ana", "application/json", b'{"a": "\\\\u0000"}') is None
    assert unstorable_in("/x", "", "application/json", b"{not json") is None


def test_a_search_takes_percent_and_underscore_literally() -> None:
    assert contains_pattern("50%") == "%50\\%%"
    assert contains_pattern("a_b") == "%a\\_b%"
    assert contains_pattern("c:\\x") == "%c:\\\\x%"
