import socket
from pathlib import Path

import pytest

from medsys.core.settings import load_settings
from medsys.launcher import provision
from medsys.launcher.services import Kind, service_named, service_table
from medsys.launcher.supervisor import render_config
from medsys.nodes.base import INITIALISED_MARKER


def test_service_table_has_every_database_node_and_monitor() -> None:
    settings = load_settings({"MEDSYS_STATE_DIR": "/srv/medsys-test"})
    names = {service.name for service in service_table(settings)}
    assert {"mariadb-master", "mysql_replica", "postgres_primary", "postgres-monitor"} <= names
    assert all(not s.autorestart for s in service_table(settings) if s.kind is Kind.DATABASE), (
        "a database must never be restarted behind the monitor's back"
    )


def test_monitor_tuning_reaches_the_monitors_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDSYS_ANTI_FLAP_WINDOW", "60")
    settings = load_settings({"MEDSYS_STATE_DIR": "/srv/medsys-test"})
    config = render_config(settings, service_table(settings))
    block = config.split("[program:mysql-monitor]")[1].split("[program:")[0]
    assert 'MEDSYS_ANTI_FLAP_WINDOW="60"' in block


def test_unknown_service_lists_the_known_ones() -> None:
    settings = load_settings({"MEDSYS_STATE_DIR": "/srv/medsys-test"})
    with pytest.raises(KeyError, match="mariadb-master"):
        service_named(settings, "mongo")


def test_supervisor_config_uses_smart_signals_and_passes_settings() -> None:
    settings = load_settings({"MEDSYS_STATE_DIR": "/srv/medsys-test", "MEDSYS_PORT_OFFSET": "9"})
    config = render_config(settings, service_table(settings))
    block = config.split("[program:postgres_primary]")[1].split("[program:")[0]
    assert "stopsignal=INT" in block
    assert 'MEDSYS_PORT_OFFSET="9"' in block
    assert "autorestart=false" in block


def test_half_initialised_folder_is_refused_and_kept(tmp_path: Path) -> None:
    data = tmp_path / "mariadb-master"
    data.mkdir()
    (data / "ibdata1").write_text("partial")
    with pytest.raises(provision.ProvisionError, match="never finished") as raised:
        provision.check_node_folder(data, "mariadb-master")
    assert raised.value.exit_code == 5
    assert (data / "ibdata1").exists()
    (data / INITIALISED_MARKER).write_text("done")
    provision.check_node_folder(data, "mariadb-master")


def test_taken_port_names_the_holder() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        holder = provision.port_holder(port)
        assert holder is not None and "pid" in holder
        with pytest.raises(provision.ProvisionError, match=f"port {port}") as raised:
            provision.check_port_free("app1", port)
        assert "MEDSYS_PORT_APP1" in str(raised.value)
    assert provision.port_holder(port) is None


def test_missing_packages_without_root_names_them_and_the_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        provision, "REQUIREMENTS", (provision.Requirement("/nonexistent/nginx", "nginx-light"),)
    )
    monkeypatch.setattr(provision.os, "geteuid", lambda: 1000)
    with pytest.raises(provision.ProvisionError) as raised:
        provision.ensure_packages()
    message = str(raised.value)
    assert "nginx-light" in message and "apt-get install -y nginx-light" in message
    assert raised.value.exit_code == 4


def test_a_replication_cut_marks_the_servers_connections_to_the_primary_only() -> None:
    from medsys.chaos.network import ReplicationCut

    cut = ReplicationCut(port=3306, gid=999)
    both = cut.rules()
    assert f"tcp dport 3306 meta skgid 999 ct mark set {cut.mark}" in both
    assert "table inet medsys_chaos_3306" in both
    assert ReplicationCut(port=23306, gid=999).mark != cut.mark  # another system's cut
    assert "ct direction original drop" in both and "ct direction reply drop" in both
    one_way = ReplicationCut(port=5433, gid=999, back=False).rules()
    assert "ct direction original drop" in one_way and "reply" not in one_way


def test_adopt_refuses_a_folder_that_is_not_a_restored_copy_of_that_pair(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from medsys.launcher import adopt
    from medsys.launcher.cluster import Cluster, LaunchError

    cluster = Cluster(load_settings({"MEDSYS_STATE_DIR": str(tmp_path / "var")}))
    copy = tmp_path / "copy"
    copy.mkdir()
    with pytest.raises(LaunchError, match="not a restored copy") as refused:
        adopt.adopt(cluster, "clinical", copy)
    assert refused.value.exit_code == 2
    (tmp_path / "copy.run").mkdir()
    adopt.write_manifest(copy, "portal", datetime(2026, 12, 5, tzinfo=UTC), 15307)
    with pytest.raises(LaunchError, match="copy of the portal pair, not of clinical"):
        adopt.adopt(cluster, "clinical", copy)
    assert copy.is_dir() and not (tmp_path / "var").exists(), "nothing was touched"


def test_metrics_folders_of_gunicorn_masters_that_are_gone_are_swept(tmp_path: Path) -> None:
    import os

    from medsys.launcher.gunicorn_hooks import PREFIX, sweep_orphans

    gone = 2**22 + 12345  # above pid_max's default: no such process
    orphan = tmp_path / f"{PREFIX}{gone}-abc"
    living = tmp_path / f"{PREFIX}{os.getpid()}-def"
    unnamed = tmp_path / f"{PREFIX}xyz"  # made before masters named theirs: left alone
    for path in (orphan, living, unnamed):
        path.mkdir()
    assert sweep_orphans(tmp_path) == [orphan]
    assert not orphan.exists() and living.exists() and unnamed.exists()


def test_a_preloaded_apps_background_work_starts_in_each_worker_not_at_load() -> None:
    from flask import Flask

    from medsys.core import serving
    from medsys.launcher.gunicorn_hooks import post_worker_init

    app = Flask("preloaded")
    started: list[str] = []
    serving.per_process(app, lambda: started.append("reconciler"))
    assert started == [], "nothing runs at load: a thread started there stays in the master"

    class Worker:  # what gunicorn hands post_worker_init: the app it serves
        wsgi = app

    post_worker_init(Worker())
    post_worker_init(Worker())
    assert started == ["reconciler", "reconciler"], "once in every worker"
    serving.start_per_process_work(Flask("plain"))  # an app with none: nothing to do


def test_a_node_that_exits_with_an_error_soon_after_starting_failed_to_start() -> None:
    from medsys.launcher.supervisor import FAILED_START_WITHIN, failed_start

    assert failed_start("FATAL", 1, 100.0, 100.5)
    # Seen in CI: the fourth try outlived startsecs (1.2 s) and then exited with 1.
    assert failed_start("EXITED", 1, 100.0, 101.2)
    assert not failed_start("EXITED", 1, 100.0, 100.0 + FAILED_START_WITHIN + 1), "ran a while"
    assert not failed_start("EXITED", -1, 100.0, 101.2), "killed by a signal: not a boot failure"
    assert not failed_start("EXITED", 0, 100.0, 101.2), "a clean exit"
    assert not failed_start("STOPPED", 0, 100.0, 101.2) and not failed_start("RUNNING", 0, 100.0, 0)
