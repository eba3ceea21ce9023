import os
import stat
from pathlib import Path
from unittest import mock

import pytest

from medsys.core.secrets import (
    SECRET_ENVIRONMENT,
    SecretNotHeldError,
    SecretsMissingError,
    secrets_from_environment,
    write_private,
)
from medsys.core.settings import SettingsError, load_settings


def test_defaults_are_design_ports(tmp_path: Path) -> None:
    settings = load_settings({"MEDSYS_CONFIG": "", "MEDSYS_STATE_DIR": str(tmp_path)})
    assert settings.port("mariadb-master") == 3306
    assert settings.port("postgres_replica") == 5434
    assert settings.state_dir == tmp_path


def test_offset_and_single_override() -> None:
    settings = load_settings({"MEDSYS_PORT_OFFSET": "20000", "MEDSYS_PORT_MARIADB_MASTER": "4000"})
    assert settings.port("mariadb-master") == 4000
    assert settings.port("mysql_primary") == 23307


def test_config_file_then_environment(tmp_path: Path) -> None:
    config = tmp_path / "medsys.toml"
    config.write_text('state_dir = "/srv/m"\nport_offset = 5\n[ports]\napp3 = 9999\n')
    settings = load_settings({"MEDSYS_CONFIG": str(config), "MEDSYS_PORT_OFFSET": "7"})
    assert settings.state_dir == Path("/srv/m")
    assert settings.port("app3") == 9999
    assert settings.port("middleware") == 8007


def test_round_trip_through_the_environment() -> None:
    settings = load_settings({"MEDSYS_PORT_OFFSET": "3", "MEDSYS_PORT_APP1": "7001"})
    assert load_settings(settings.to_environ()) == settings


@pytest.mark.parametrize(
    "environ",
    [
        {"MEDSYS_PORT_OFFSET": "many"},
        {"MEDSYS_PORT_OFFSET": "70000"},
        {"MEDSYS_PORT_APP1": "0"},
        {"MEDSYS_CONFIG": "/nonexistent/medsys.toml"},
    ],
)
def test_bad_values_are_refused_with_a_reason(environ: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        load_settings(environ)


def test_unknown_service_in_file(tmp_path: Path) -> None:
    config = tmp_path / "medsys.toml"
    config.write_text("[ports]\nredis = 1\n")
    with pytest.raises(SettingsError, match="redis"):
        load_settings({"MEDSYS_CONFIG": str(config)})


def test_compose_network_names_every_service_as_its_host() -> None:
    local = load_settings({"MEDSYS_CONFIG": ""})
    assert (local.host("mysql_primary"), local.bind_address) == ("127.0.0.1", "127.0.0.1")
    containers = load_settings({"MEDSYS_CONFIG": "", "MEDSYS_NETWORK": "compose"})
    assert containers.host("mysql_primary") == "mysql_primary"
    assert containers.bind_address == "0.0.0.0"  # noqa: S104 - inside a container
    assert containers.url("middleware") == "http://middleware:8000"
    assert load_settings(containers.to_environ()).network is containers.network
    with pytest.raises(SettingsError, match="network must be one of loopback, compose"):
        load_settings({"MEDSYS_CONFIG": "", "MEDSYS_NETWORK": "overlay"})


def test_each_process_is_given_only_its_own_secrets_and_never_a_weak_one() -> None:
    full = {name: f"secret-value-{i:04d}" for i, name in enumerate(SECRET_ENVIRONMENT.values())}
    secrets = secrets_from_environment(full)
    assert secrets is not None
    assert secrets.replication_password == full["MEDSYS_DB_REPLICATION_PASSWORD"]
    assert secrets_from_environment({}) is None
    # A clinical container is given its own database password and nothing else.
    clinical = secrets_from_environment(
        {"MEDSYS_DB_APP_PASSWORD_CLINICAL": full["MEDSYS_DB_APP_PASSWORD_CLINICAL"]}
    )
    assert clinical is not None
    assert clinical.app_password("clinical") == full["MEDSYS_DB_APP_PASSWORD_CLINICAL"]
    with pytest.raises(SecretNotHeldError, match="app_password_admin"):
        clinical.app_password("admin")
    with pytest.raises(SecretNotHeldError, match="admin_password"):
        _ = clinical.admin_password
    for weak, why in (
        ("change-me-application", "placeholder"),
        ("CHANGE-ME-but-long-enough", "placeholder"),
        ("short-secret", "at least 16"),
        ("aaaaaaaaaaaaaaaaaaaaaaaa", "too few characters"),
    ):
        with pytest.raises(SecretsMissingError, match=why):
            secrets_from_environment({**full, "MEDSYS_DB_APP_PASSWORD_ADMIN": weak})


def test_secret_files_are_never_readable_by_others_even_for_an_instant(tmp_path: Path) -> None:
    seen_modes: list[int] = []
    real_open = os.open

    def watching_open(path: str, flags: int, mode: int = 0o777) -> int:
        seen_modes.append(mode)
        return real_open(path, flags, mode)

    target = tmp_path / "secret.json"
    target.write_text("old")
    target.chmod(0o644)
    with mock.patch("os.open", watching_open):
        write_private(target, '{"x": "y"}', 0o600)
    assert seen_modes == [0o600]  # created owner-only, not chmod-ed afterwards
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_text() == '{"x": "y"}'
    assert [p.name for p in tmp_path.iterdir()] == ["secret.json"]  # no temporary left


def test_on_kubernetes_instances_are_reached_at_their_applications_service() -> None:
    settings = load_settings(
        {"MEDSYS_STATE_DIR": "/var/lib/medsys", "MEDSYS_NETWORK": "kubernetes", "MEDSYS_CONFIG": ""}
    )
    assert settings.url("app1") == settings.url("app1-replica") == "http://clinical:5001"
    assert settings.url("nginx") == "http://admin:3002"
    assert settings.url("middleware") == "http://middleware:8000"
    assert settings.bind_address == "0.0.0.0"  # noqa: S104 - a pod's own interfaces


def test_a_database_endpoint_replaces_the_pairs_nodes() -> None:
    settings = load_settings(
        {
            "MEDSYS_STATE_DIR": "/var/lib/medsys",
            "MEDSYS_CONFIG": "",
            "MEDSYS_DATABASE_ENDPOINT_ADMIN": "medsys-admin-db-rw:5432",
        }
    )
    assert settings.database_endpoints == {"admin": ("medsys-admin-db-rw", 5432)}
    with pytest.raises(SettingsError, match="host:port"):
        load_settings(
            {
                "MEDSYS_STATE_DIR": "/var/lib/medsys",
                "MEDSYS_CONFIG": "",
                "MEDSYS_DATABASE_ENDPOINT_PORTAL": "medsys-portal-db",
            }
        )


def test_replicas_serve_reads_where_the_pair_spans_hosts_unless_set() -> None:
    alone = {"MEDSYS_CONFIG": ""}
    clinical = ("mariadb-master", "mariadb-replica")
    assert load_settings(alone).replica_wait(clinical) == 0  # one machine: no gain
    assert load_settings({**alone, "MEDSYS_NETWORK": "compose"}).replica_wait(clinical) == 0.05
    chosen = load_settings({**alone, "MEDSYS_REPLICA_WAIT_MS": "80"})
    assert chosen.replica_wait(clinical) == 0.08
    off = load_settings({**alone, "MEDSYS_NETWORK": "compose", "MEDSYS_REPLICA_WAIT_MS": "0"})
    assert off.replica_wait(clinical) == 0
    for wrong in ("-1", "1001", "fast"):
        with pytest.raises(SettingsError, match="replica_wait_ms"):
            load_settings({**alone, "MEDSYS_REPLICA_WAIT_MS": wrong})
