"""The docker-compose deployment: generated from the launcher's table, valid, linted.

No Docker engine runs on these machines, so what can be checked without one is checked
here: the committed files equal what ``medsys compose`` renders; the compose file passes
docker-compose's own validation (Debian's docker-compose 1.29, which needs no daemon);
hadolint and shellcheck pass; the database entrypoint refuses what it must refuse.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from medsys.core.keys import write_environment_files
from medsys.core.secrets import SECRET_ENVIRONMENT
from medsys.core.topology import DATABASE_NODES, DEFAULT_PORTS, PAIRS
from medsys.launcher.compose import (
    NETWORK,
    NGINX_CONFIG_FILE,
    SETUP_JOB,
    compose_settings,
    measurement_files,
    render,
    render_nginx_config,
)
from medsys.launcher.services import Kind, service_table

ROOT = Path(__file__).resolve().parents[2]
TOOLS = Path(sys.executable).parent
SEED_CONTAINERS = {
    "mariadb-master",
    "postgres_primary",
    "mysql_primary",
    "app1",
    "app1-replica",
    "nginx",
    "middleware",
    "app3",
    "mariadb-monitor",
    "postgres-monitor",
    "mysql-monitor",
}


def compose_file() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_committed_compose_file_is_what_medsys_compose_renders() -> None:
    committed = (ROOT / "docker-compose.yml").read_text()
    assert committed == render(), (
        "docker-compose.yml differs from the service table: run `medsys compose --write`"
    )
    assert (ROOT / NGINX_CONFIG_FILE).read_text() == render_nginx_config(), (
        f"{NGINX_CONFIG_FILE} is stale: run `medsys compose --write`"
    )
    for path, text in measurement_files().items():
        assert (ROOT / path).read_text() == text, f"{path} is stale: run `medsys compose --write`"


def test_medsys_compose_prints_the_same_file() -> None:
    printed = subprocess.run(
        [str(TOOLS / "medsys"), "compose"], capture_output=True, text=True, check=True
    )
    assert printed.stdout == (ROOT / "docker-compose.yml").read_text()


def test_every_service_of_the_table_runs_with_its_seed_name_port_and_command() -> None:
    services = compose_file()["services"]
    table = service_table(compose_settings(), python="python")
    backups = {service.name for service in table if service.kind is Kind.BACKUP}
    assert set(services) == {s.name for s in table} - backups | {SETUP_JOB, "grafana"}
    assert set(services) >= SEED_CONTAINERS
    for service in table:
        if service.kind is Kind.BACKUP:
            continue
        definition = services[service.name]
        assert definition["container_name"] == service.name
        assert definition["networks"] == [NETWORK]
        if service.name in ("app2-1", "app2-2"):
            assert "ports" not in definition  # behind nginx only
        elif service.port is not None:
            assert definition["ports"] == [f"127.0.0.1:{service.port}:{service.port}"]
            assert service.port == DEFAULT_PORTS[service.name]
        if service.kind is Kind.DATABASE:
            assert definition["command"] == [service.name]  # the entrypoint's argument
        elif service.name in ("prometheus", "blackbox"):  # the official images, paths inside
            assert f":{service.port}" in " ".join(definition["command"])
        else:
            assert definition["command"] == list(service.command)
        assert "healthcheck" in definition, f"{service.name} has no healthcheck"
    assert compose_file()["networks"][NETWORK]["name"] == NETWORK


def test_start_order_waits_for_health_and_for_the_migrations() -> None:
    services = compose_file()["services"]
    for pair in PAIRS:
        for node in pair.nodes:
            assert services[SETUP_JOB]["depends_on"][node] == {"condition": "service_healthy"}
        # A monitor is needed most while a node is down: it waits for nothing's health.
        monitor = services[pair.monitor]["depends_on"]
        assert set(monitor) == set(pair.nodes)
        assert all(need["condition"] == "service_started" for need in monitor.values())
    for app in ("app1", "app1-replica", "app2-1", "app2-2", "app3"):
        needs = services[app]["depends_on"]
        assert needs[SETUP_JOB] == {"condition": "service_completed_successfully"}
    assert services["nginx"]["depends_on"]["app2-1"] == {"condition": "service_healthy"}


def test_databases_keep_data_in_named_volumes_and_share_only_the_cluster_state() -> None:
    document = compose_file()
    for node in DATABASE_NODES:
        volumes = document["services"][node]["volumes"]
        assert f"{node}-data:/var/lib/medsys/data" in volumes
        assert "cluster-state:/var/lib/medsys/cluster" in volumes
        assert f"{node}-data" in document["volumes"]
        assert document["services"][node]["restart"] == "unless-stopped"
    for pair in PAIRS:
        monitor = document["services"][pair.monitor]
        assert monitor["volumes"] == ["cluster-state:/var/lib/medsys/cluster"]
        assert monitor["environment"]["MEDSYS_NODE_CONTROL"] == "agents"
    portal_image = document["services"]["mysql_primary"]["build"]["dockerfile"]
    assert portal_image == "docker/mysql/Dockerfile"
    assert "FROM mysql:8.4" in (ROOT / portal_image).read_text()


def test_no_secret_is_committed_and_each_container_gets_only_its_own() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    assert "TOKEN_KEY" not in text and "env_file: [.env" not in text
    # Every secret is a reference to .env, never a value.
    secret = r"MEDSYS_DB_[A-Z_]+|MEDSYS_PROBE_[A-Z]+_PASSWORD|MEDSYS_DEMO_SEED|MEDSYS_BACKUP_KEY"
    values = re.findall(rf"({secret}): (.*)", text)
    assert values and all(value.startswith(f"${{{name}:?") for name, value in values)
    services = compose_file()["services"]

    def secrets_given(name: str) -> set[str]:
        environment = services[name].get("environment", {})
        return {key for key in environment if key in SECRET_ENVIRONMENT.values()}

    assert secrets_given("app1") == {"MEDSYS_DB_APP_PASSWORD_CLINICAL"}
    assert secrets_given("app2-1") == {"MEDSYS_DB_APP_PASSWORD_ADMIN"}
    assert secrets_given("app3") == {"MEDSYS_DB_APP_PASSWORD_PORTAL"}
    assert secrets_given("middleware") == set()
    # The probe user is made with the others when a primary boots (medsys.sla).
    data = {
        "MEDSYS_DB_ADMIN_PASSWORD",
        "MEDSYS_DB_REPLICATION_PASSWORD",
        "MEDSYS_PROBE_DB_PASSWORD",
        "MEDSYS_BACKUP_KEY",  # the PostgreSQL nodes archive WAL into the repository
    }
    assert secrets_given("mysql-monitor") == data
    # A node's agent creates its own pair's users, and no other pair's.
    assert secrets_given("postgres_primary") == data | {
        "MEDSYS_DB_APP_PASSWORD_ADMIN",
        "MEDSYS_DB_OWNER_PASSWORD_ADMIN",
    }
    assert secrets_given(SETUP_JOB) == set(SECRET_ENVIRONMENT.values())
    example = (ROOT / ".env.example").read_text()
    names = set(re.findall(r"^(MEDSYS_[A-Z_]+)=", example, flags=re.MULTILINE))
    compose_only = {"MEDSYS_METRICS_TOKEN", "MEDSYS_GRAFANA_ADMIN_PASSWORD"}
    assert names == set(SECRET_ENVIRONMENT.values()) | compose_only
    # Prometheus presents the token to every service it scrapes; each is given it.
    token = "${MEDSYS_METRICS_TOKEN:?set it in .env, see .env.example}"
    for name in ("app1", "app2-1", "app3", "middleware", "mysql-monitor", "prober"):
        assert services[name]["environment"]["MEDSYS_METRICS_TOKEN"] == token, name
    assert services["prometheus"]["environment"]["MEDSYS_METRICS_TOKEN"] == token
    assert secrets_given("prober") == {
        "MEDSYS_PROBE_DB_PASSWORD",
        "MEDSYS_PROBE_PORTAL_PASSWORD",
    }
    assert services["blackbox"]["environment"] == {"GOGC": "50"}  # no secret at all
    assert ".env" in (ROOT / ".gitignore").read_text().split()
    tracked = subprocess.run(
        ["git", "ls-files", ".env"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert tracked.stdout == ""


def _project_copy(tmp_path: Path) -> Path:
    for name in ("docker-compose.yml", "Dockerfile"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "docker", tmp_path / "docker")
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    write_environment_files(tmp_path / "keys")  # what `medsys keys env --write` makes
    return tmp_path


def test_each_app_container_gets_only_its_own_signing_key(tmp_path: Path) -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    expected = {
        "app1": "clinical",
        "app1-replica": "clinical",
        "app2-1": "admin",
        "app2-2": "admin",
        "middleware": "middleware",
        "app3": "portal",
    }
    for name, definition in services.items():
        key_files = [f for f in definition.get("env_file", []) if f.startswith("keys/")]
        assert key_files == ([f"keys/{expected[name]}.env"] if name in expected else []), name
    for path in write_environment_files(tmp_path / "keys"):
        text = path.read_text()
        assert (path.stat().st_mode & 0o777) == 0o600
        assert text.count("MEDSYS_SIGNING_KEY_") == 1
        assert f"MEDSYS_SIGNING_KEY_{path.stem.upper()}=" in text


def _compose_config(project: Path) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MEDSYS_")}
    return subprocess.run(
        ["docker-compose", "config", "--quiet"],
        cwd=project,
        capture_output=True,
        text=True,
        env=environ,
        check=False,
    )


def test_compose_file_passes_docker_compose_validation(tmp_path: Path) -> None:
    if shutil.which("docker-compose") is None:
        pytest.fail("docker-compose is missing: scripts/test installs Debian's package")
    project = _project_copy(tmp_path)
    result = _compose_config(project)
    assert result.returncode == 0, result.stderr
    # The validator does reject what the specification forbids.
    broken = (
        (project / "docker-compose.yml")
        .read_text()
        .replace("condition: service_healthy", "condition: when_it_feels_like_it", 1)
    )
    (project / "docker-compose.yml").write_text(broken)
    refused = _compose_config(project)
    assert refused.returncode != 0
    assert "condition" in refused.stderr


@pytest.mark.parametrize(
    "dockerfile",
    ["Dockerfile", "docker/mariadb/Dockerfile", "docker/postgres/Dockerfile",
     "docker/mysql/Dockerfile"],
)  # fmt: skip
def test_dockerfiles_lint_clean_and_never_run_as_root(dockerfile: str) -> None:
    result = subprocess.run(
        [str(TOOLS / "hadolint"), "--failure-threshold", "info", dockerfile],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    text = (ROOT / dockerfile).read_text()
    assert re.findall(r"^USER (.+)$", text, flags=re.MULTILINE)[-1] == "999:999"
    assert "--require-hashes -r" in text  # pinned, hash-checked dependencies


def test_shell_scripts_are_shellcheck_clean() -> None:
    scripts = ["docker/node-entrypoint.sh", "medsys", "scripts/bootstrap", "scripts/test"]
    result = subprocess.run(
        [str(TOOLS / "shellcheck"), *scripts], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout


def test_lock_pins_every_runtime_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lock = (ROOT / "requirements.lock").read_text().lower()
    pinned = dict(re.findall(r"^([a-z0-9][a-z0-9._-]*)==(\S+)", lock, flags=re.MULTILINE))
    for requirement in project["dependencies"]:
        name = re.split(r"[\[<>=~! ;]", requirement, maxsplit=1)[0].lower().replace("_", "-")
        assert name in pinned, f"{name} is not in requirements.lock: re-run uv pip compile"
    assert "--hash=sha256:" in lock


class TestNodeEntrypoint:
    """docker/node-entrypoint.sh with a stand-in `python` that prints what it was given."""

    @pytest.fixture
    def environ(self, tmp_path: Path) -> dict[str, str]:
        fake = tmp_path / "python"
        fake.write_text('#!/bin/sh\necho "python $*"\n')
        fake.chmod(0o755)
        environ = {"PATH": f"{tmp_path}:/usr/bin:/bin"}
        environ.update({name: "a-long-enough-secret" for name in SECRET_ENVIRONMENT.values()})
        return environ

    def run(self, environ: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["sh", str(ROOT / "docker/node-entrypoint.sh"), *args],
            capture_output=True,
            text=True,
            env=environ,
            check=False,
        )

    def test_hands_a_database_node_to_its_agent(self, environ: dict[str, str]) -> None:
        result = self.run(environ, "postgres_replica")
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "python -m medsys.nodes.agent postgres_replica"

    @pytest.mark.parametrize("args", [(), ("app1",), ("mariadb-master", "extra"), ("; rm",)])
    def test_refuses_anything_but_one_node_name(
        self, environ: dict[str, str], args: tuple[str, ...]
    ) -> None:
        result = self.run(environ, *args)
        assert result.returncode == 2
        assert "usage: node-entrypoint NODE" in result.stderr
        assert result.stdout == ""

    def test_refuses_to_start_without_every_secret(self, environ: dict[str, str]) -> None:
        del environ["MEDSYS_DB_REPLICATION_PASSWORD"]
        result = self.run(environ, "mysql_primary")
        assert result.returncode == 3
        assert "MEDSYS_DB_REPLICATION_PASSWORD is not set" in result.stderr
        assert result.stdout == ""


def test_prometheus_in_compose_scrapes_by_service_name_with_the_token() -> None:
    scraped = yaml.safe_load((ROOT / "docker/measurement/prometheus.yml").read_text())
    clinical = next(j for j in scraped["scrape_configs"] if j["job_name"] == "clinical")
    assert clinical["static_configs"][0]["targets"] == ["app1:5001", "app1-replica:5002"]
    assert clinical["authorization"]["credentials_file"] == "/prometheus/.scrape-token"
    services = compose_file()["services"]
    start = services["prometheus"]["command"][0]
    assert "/prometheus/.scrape-token" in start and "$$MEDSYS_METRICS_TOKEN" in start
    grafana = services["grafana"]
    assert grafana["ports"] == ["127.0.0.1:3000:3000"]
    assert grafana["depends_on"] == {"prometheus": {"condition": "service_healthy"}}
    dashboard = json.loads((ROOT / "docker/measurement/grafana/medsys.json").read_text())
    queries = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert "avg_over_time(medsys:service_up[5m])" in queries
