"""Prometheus' configuration, rules and blackbox modules as medsys writes them: valid by
Prometheus' own checker, and every journey probed where its service listens."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from medsys.core.settings import load_settings
from medsys.core.topology import PAIRS
from medsys.sla import config

SETTINGS = load_settings({"MEDSYS_STATE_DIR": "/srv/m", "MEDSYS_PORT_OFFSET": "100"})
PROMTOOL = shutil.which("promtool")


def test_every_service_is_scraped_and_every_journey_probed_at_its_port() -> None:
    scraped = yaml.safe_load(config.prometheus_config(SETTINGS, rules_file="r", token_file=None))
    jobs = {job["job_name"]: job for job in scraped["scrape_configs"]}
    targets = {
        t for job in jobs.values() for group in job["static_configs"] for t in group["targets"]
    }
    for service in ("app1", "app1-replica", "app2-1", "app2-2", "app3", "middleware"):
        assert f"127.0.0.1:{SETTINGS.port(service)}" in targets
    for pair in PAIRS:
        assert f"127.0.0.1:{SETTINGS.port(pair.monitor)}" in targets
    journeys = {
        group["labels"]["journey"]: group["targets"][0]
        for job in ("journeys-blackbox", "journeys-prober")
        for group in jobs[job]["static_configs"]
    }
    assert journeys["portal-login-page"] == f"http://127.0.0.1:{SETTINGS.port('app3')}/login"
    assert journeys["admin-api"] == f"http://127.0.0.1:{SETTINGS.port('nginx')}/health"
    assert {f"write-{pair.name}" for pair in PAIRS} <= set(journeys)
    assert journeys["patient-history"] == "patient-history"
    prober = jobs["journeys-prober"]["relabel_configs"][-1]
    assert prober["replacement"] == f"127.0.0.1:{SETTINGS.port('prober')}"


def test_a_scrape_token_is_sent_where_services_are_elsewhere() -> None:
    scraped = yaml.safe_load(
        config.prometheus_config(SETTINGS, rules_file="r", token_file="/run/secrets/t")
    )
    clinical = next(j for j in scraped["scrape_configs"] if j["job_name"] == "clinical")
    assert clinical["authorization"] == {"type": "Bearer", "credentials_file": "/run/secrets/t"}


def test_retention_is_prometheus_notation_or_refused() -> None:
    assert config.retention(None) == "31d"
    assert config.retention("12h") == "12h"
    for wrong in ("31 days", "-1d", "0d", "1d; rm -rf /"):
        with pytest.raises(ValueError, match="MEDSYS_PROMETHEUS_RETENTION"):
            config.retention(wrong)


def test_prometheus_own_checker_accepts_the_configuration_and_rules(tmp_path: Path) -> None:
    assert PROMTOOL is not None, "promtool comes with Debian's prometheus (medsys install)"
    rules = tmp_path / "rules.yml"
    rules.write_text(config.alert_rules(SETTINGS))
    main = tmp_path / "prometheus.yml"
    main.write_text(config.prometheus_config(SETTINGS, rules_file=str(rules), token_file=None))
    checked = subprocess.run(
        [str(PROMTOOL), "check", "config", str(main)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    recorded, alerts = len(config.services(SETTINGS)), 8
    assert f"SUCCESS: {recorded + alerts} rules found" in checked.stdout


def test_blackbox_modules_check_the_login_page_by_its_words() -> None:
    modules = yaml.safe_load(config.blackbox_config())["modules"]
    assert modules["http_login_page"]["http"]["fail_if_body_not_matches_regexp"] == ["Ingresar"]
    assert modules["http_2xx"]["http"]["valid_status_codes"] == [200]


def test_a_service_is_up_while_every_journey_works_or_any_redundant_instance() -> None:
    clinical = config.service_up_expression(SETTINGS, "clinical")
    assert clinical.startswith('max(probe_success{journey=~"clinical-api|')
    portal = config.service_up_expression(SETTINGS, "portal")
    assert 'min(probe_success{journey=~"portal-login-page|patient-history"})' in portal
    assert set(config.services(SETTINGS)) >= {"clinical", "admin", "portal", "middleware"}
