"""Prometheus, its blackbox exporter and the journey prober as ``medsys up`` runs them:
their commands for the service table, and their files, written before they start."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

from medsys.core.accounts import Part, account_name
from medsys.core.settings import Settings
from medsys.nodes.base import owned_directory
from medsys.sla import config

PROMETHEUS = "/usr/bin/prometheus"
BLACKBOX = "/usr/bin/prometheus-blackbox-exporter"


def _files(settings: Settings) -> dict[str, Path]:
    folder = settings.measurement_dir
    return {
        "prometheus": folder / "prometheus.yml",
        "rules": folder / "rules.yml",
        "blackbox": folder / "blackbox.yml",
        "samples": folder / "samples",
    }


def prometheus_command(settings: Settings) -> tuple[str, ...]:
    files = _files(settings)
    retention = config.retention(os.environ.get("MEDSYS_PROMETHEUS_RETENTION"))
    return (
        PROMETHEUS,
        f"--config.file={files['prometheus']}",
        f"--storage.tsdb.path={files['samples']}",
        f"--storage.tsdb.retention.time={retention}",
        f"--web.listen-address={settings.bind_address}:{settings.port('prometheus')}",
        "--log.level=warn",
    )


def blackbox_command(settings: Settings) -> tuple[str, ...]:
    return (
        BLACKBOX,
        f"--config.file={_files(settings)['blackbox']}",
        f"--web.listen-address={settings.bind_address}:{settings.port('blackbox')}",
        "--log.level=warn",
    )


def write_files(settings: Settings) -> None:
    """At every ``up``: the configuration follows the settings (ports, offset)."""
    account = account_name(settings, Part.OBSERVER)
    owned_directory(settings, settings.measurement_dir, 0o700, account=account)
    files = _files(settings)
    owned_directory(settings, files["samples"], 0o700, account=account)
    texts = {
        "prometheus": config.prometheus_config(
            settings, rules_file=str(files["rules"]), token_file=None
        ),
        "rules": config.alert_rules(settings),
        "blackbox": config.blackbox_config(),
    }
    for name, text in texts.items():
        path = files[name]
        path.write_text(text)
        path.chmod(0o600)
        if os.geteuid() == 0:
            owner = pwd.getpwnam(account)
            os.chown(path, owner.pw_uid, owner.pw_gid)
