"""``medsys``: run the whole system as local processes and inject faults into it.

Exit codes: 0 ok, 1 failure, 2 bad usage (unknown service, not running), 3 setup problem,
4 packages missing, 5 state folder damaged or half-initialised, 6 port taken.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import click

from medsys.core.demo_logins import DEMO_ACCOUNTS, demo_password
from medsys.core.secrets import Secrets, SecretsMissingError, load_secrets
from medsys.core.settings import Settings, SettingsError, load_settings, password_hashing
from medsys.core.tokens import Role
from medsys.launcher.cluster import Cluster, LaunchError, ServiceStatus, database_memory
from medsys.launcher.identity_cli import register as register_identity_commands
from medsys.launcher.kept_aside import KeptAside, kept_aside
from medsys.launcher.provision import ProvisionError
from medsys.launcher.supervisor import SupervisorError
from medsys.nodes.base import NodeError
from medsys.pairs.state import PairStateError


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as error:
        raise click.ClickException(f"configuration: {error}") from None


def _cluster(quiet: bool = False) -> Cluster:
    return Cluster(_settings(), say=None if quiet else click.echo)


def _fail(message: str, code: int) -> NoReturn:
    click.secho(f"medsys: {message}", fg="red", err=True)
    sys.exit(code)


def _run(action: object) -> None:
    """Turn our documented errors into a message and an exit code, never a traceback."""
    try:
        action()  # type: ignore[operator]
    except (ProvisionError, LaunchError) as error:
        _fail(str(error), error.exit_code)
    except PairStateError as error:
        _fail(str(error), 5)
    except (SupervisorError, NodeError, SecretsMissingError) as error:
        _fail(str(error), 1)


SERVICE_PORTS = {"clinical": "app1", "admin": "nginx", "portal": "app3"}


def _mib(size: int) -> str:
    return f"{size / 2**20:.0f} MiB" if size else "-"


def render_status(rows: list[ServiceStatus]) -> str:
    header = ("SERVICE", "STATE", "PID", "URL", "ROLE", "HEALTH", "MEMORY")
    table = [header] + [
        (
            row.service.name,
            row.state,
            str(row.pid or "-"),
            row.service.url,
            row.role,
            row.health,
            _mib(row.rss_bytes),
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in table
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Run medsys (databases with replication and failover monitors) on this machine.

    All state lives in one folder (./var, or MEDSYS_STATE_DIR). Ports are those of
    DESIGN.md, moved by MEDSYS_PORT_OFFSET=N or MEDSYS_PORT_<SERVICE>=N or medsys.toml.
    """


def _say_demo_logins(settings: Settings) -> None:
    seed = load_secrets(settings).demo_seed
    ports = {service: settings.port(name) for service, name in SERVICE_PORTS.items()}
    click.echo("demo logins (each its own password):")
    for service, account, who in DEMO_ACCOUNTS:
        where = f"{service} :{ports[service]}"
        click.echo(f"  {where:16} {account:12} {demo_password(seed, account):18} {who}")
    clinical, app1_replica = settings.port("app1"), settings.port("app1-replica")
    office, portal = settings.port("nginx"), settings.port("app3")
    click.echo(
        f"web pages: doctors and nurses http://127.0.0.1:{clinical}/clinica/ (or "
        f":{app1_replica}), clerks and accountants http://127.0.0.1:{office}/oficina/, "
        f"patients http://127.0.0.1:{portal}/"
    )
    click.echo(
        "staff over JSON: POST /auth/login (clinical, admin).  "
        "medsys user add|list|deactivate|reset-password|reset-second-factor"
    )
    click.echo(
        "tokens for curl: medsys token ROLE [--sub ID] [--aud SERVICE]  (roles: "
        + ", ".join(r.value for r in Role)
        + ")"
    )


@cli.command()
def up() -> None:
    """Install what is missing, initialise, start everything, wait until healthy."""
    cluster = _cluster()

    def bring_up() -> None:
        seconds = cluster.up()
        rows = cluster.status()
        click.echo()
        click.echo(render_status(rows))
        click.echo()
        click.echo(
            f"medsys is up in {seconds:.1f} s; database memory {_mib(database_memory(rows))}."
        )
        click.echo(f"state folder: {cluster.settings.state_dir}")
        hashing = password_hashing()
        if hashing != "standard":
            click.echo(
                f"WARNING: passwords are hashed with the {hashing!r} profile "
                "(MEDSYS_PASSWORD_HASHING): fit for a test system, never for real accounts."
            )
        _say_demo_logins(cluster.settings)

    _run(bring_up)


@cli.command()
@click.option(
    "--write",
    is_flag=True,
    help="Write docker-compose.yml, docker/nginx/medsys.conf and docker/measurement/ here "
    "instead of printing.",
)
def compose(write: bool) -> None:
    """Print the docker-compose file, generated from the same service table as `up`.

    The committed docker-compose.yml is this output (a test fails when they differ); the
    nginx configuration and the measurement files (Prometheus, its rules, the blackbox
    exporter, Grafana's provisioning and dashboard) it mounts are rendered alongside with
    --write.
    """
    from medsys.launcher.compose import (
        MEASUREMENT_FOLDER,
        NGINX_CONFIG_FILE,
        measurement_files,
        render,
        render_nginx_config,
    )

    if not write:
        click.echo(render(), nl=False)
        return
    Path("docker-compose.yml").write_text(render())
    files = {NGINX_CONFIG_FILE: render_nginx_config(), **measurement_files()}
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    click.echo(f"wrote docker-compose.yml, {NGINX_CONFIG_FILE} and {MEASUREMENT_FOLDER}/")


BACKUP_PAIRS = ("admin", "clinical", "portal")
_PAIR_OPTION = click.option(
    "--pair",
    "pairs",
    type=click.Choice(BACKUP_PAIRS),
    multiple=True,
    help="Only this pair (repeatable; default: every pair).",
)


@cli.group()
def k8s() -> None:
    """Kubernetes: the manifests under deploy/k8s, and the setup Job's accounts step."""


@k8s.command("render")
@click.option(
    "--root",
    type=click.Path(file_okay=False),
    default=".",
    show_default=True,
    help="Where deploy/k8s/ is written (the repository's root).",
)
def k8s_render(root: str) -> None:
    """Write deploy/k8s/ (a kustomize base and the production overlay) from the same
    service table as `up` and `compose`; a test fails while the committed files differ.
    Build with `kubectl kustomize deploy/k8s/overlays/production`."""
    from medsys.launcher.kubernetes import write

    for path in write(Path(root)):
        click.echo(f"wrote {path}")


@k8s.command("accounts")
@_PAIR_OPTION
def k8s_accounts(pairs: tuple[str, ...]) -> None:
    """Make each database's schema owner and application accounts with the cluster's
    root account (MEDSYS_DATABASE_ROOT_PASSWORD_<PAIR>); the setup Job's first step.
    Idempotent; passwords are set again."""
    import pymysql

    from medsys.launcher.kubernetes_accounts import ensure_accounts

    def make() -> None:
        settings = _settings()
        for pair in pairs or BACKUP_PAIRS:
            click.echo(ensure_accounts(settings, pair))

    try:
        _run(make)
    except (ValueError, pymysql.MySQLError) as error:
        _fail(str(error), 1)


@cli.command()
def prepare() -> None:
    """Run every application's migrations and load demo data into empty databases.

    `up` does this itself; in containers it is the one-shot medsys-setup service.
    """
    from medsys.launcher.cluster import prepare_applications

    def prepare_and_tell() -> None:
        settings = _settings()
        prepare_applications(settings, click.echo)
        if settings.demo_data:
            _say_demo_logins(settings)  # in containers, the setup job's log shows them

    _run(prepare_and_tell)


@cli.command()
def install() -> None:
    """Install the system packages medsys needs (apt-get, as root); nothing else."""
    from medsys.launcher.provision import ensure_packages, missing_packages

    _run(lambda: ensure_packages(click.echo))
    click.echo("system packages: all present" if not missing_packages() else "still missing")


@cli.command()
def status() -> None:
    """One row per service: state, pid, URL, role (primary/replica, lag), health, memory;
    then recent failovers, the last backups and any old node data kept aside."""
    cluster = _cluster(quiet=True)
    if not cluster.supervisor.is_running():
        click.echo(
            "medsys is not running here (state folder "
            f"{cluster.settings.state_dir}); start it with `medsys up`."
        )
        sys.exit(3)
    click.echo(render_status(cluster.status()))
    events = cluster.recent_events(limit=5)
    if events:
        click.echo("\nrecent failover events:")
        for event in events:
            click.echo(f"  {event['at']} {event['pair']}: {event['sentence']}")
    click.echo("\n" + _backups_line(cluster.settings))
    click.echo("\n" + render_kept_aside(kept_aside(cluster.settings.data_dir)))
    if cluster.settings.measurement:
        click.echo("\n" + _alerts_line(cluster.settings))


def render_kept_aside(found: list[KeptAside]) -> str:
    if not found:
        return "data kept aside: none"
    total = sum(kept.size_bytes for kept in found)
    lines = [
        f"data kept aside: {len(found)} folder(s), {_mib(total)} "
        "(old nodes' data from failovers and adoptions; it holds patients' data: "
        "read what you need, then remove each by hand)"
    ]
    lines += [f"  {kept.path}  {_mib(kept.size_bytes)}" for kept in found]
    return "\n".join(lines)


def _backups_line(settings: Settings) -> str:
    """The last good backup of each pair and the window a restore can reach."""
    from medsys.backups import mariabackup
    from medsys.backups.chain import window
    from medsys.core.secrets import load_secrets
    from medsys.nodes import pgbackrest

    lines = ["backups:"]
    try:
        found = pgbackrest.catalogue(settings)
        if found.last is None or found.restorable_from is None:
            lines.append("  admin: none yet")
        else:
            lines.append(
                f"  admin: last {found.last.kind} backup ended "
                f"{found.last.stopped:%Y-%m-%d %H:%M:%S} UTC; restorable from "
                f"{found.restorable_from:%Y-%m-%d %H:%M:%S} UTC to the last minute"
            )
    except (NodeError, OSError) as error:
        lines.append(f"  admin: unknown ({error})")
    try:
        secrets = load_secrets(settings)
    except SecretsMissingError:
        return "\n".join(lines)
    for pair in mariabackup.PAIRS:
        try:
            listed = mariabackup.PairBackups(settings, secrets, pair).catalogue()
        except (NodeError, OSError, ValueError) as error:
            lines.append(f"  {pair}: unknown ({error})")
            continue
        reach = window(listed.backups, listed.segments)
        if listed.last is None or reach is None:
            lines.append(f"  {pair}: none yet")
            continue
        lines.append(
            f"  {pair}: last full copy ended {listed.last.stopped:%Y-%m-%d %H:%M:%S} UTC; "
            f"restorable from {reach[0]:%Y-%m-%d %H:%M:%S} to {reach[1]:%H:%M:%S} UTC "
            "(to the second)"
        )
    return "\n".join(lines)


def _alerts_line(settings: Settings) -> str:
    from medsys.sla.gather import prometheus_for
    from medsys.sla.prometheus_api import PrometheusError

    api = prometheus_for(settings)
    try:
        firing = api.firing_alerts()
    except PrometheusError:
        return "alerts: unknown (Prometheus does not answer)"
    finally:
        api.close()
    if not firing:
        return "alerts firing: none"
    lines = [f"alerts firing: {len(firing)}"]
    for alert in firing:
        labels, notes = alert.get("labels", {}), alert.get("annotations", {})
        lines.append(
            f"  {labels.get('severity', '?')} {labels.get('alertname')}: {notes.get('summary')}"
        )
    return "\n".join(lines)


@cli.command()
@click.option(
    "--since",
    default="1h",
    show_default=True,
    help="The window: minutes, hours or days back from now (90m, 24h, 30d).",
)
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False),
    help="Also write an HTML report with plots.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the report as JSON instead of a table."
)
def sla(since: str, html_file: str | None, as_json: bool) -> None:
    """Availability, error budget and latency per service and journey against the seed's
    SLA (96 % a month, answers within 3 s), and every failover in the window with its
    detection, promotion and write gap; read from Prometheus and the failure registers."""
    from medsys.sla import render
    from medsys.sla.gather import gather, prometheus_for
    from medsys.sla.prometheus_api import PrometheusError
    from medsys.sla.report import window_seconds

    settings = _settings()
    try:
        window = window_seconds(since)
    except ValueError as error:
        _fail(str(error), 2)
    if not settings.measurement:
        _fail("measurement is off here (MEDSYS_MEASUREMENT=off): nothing was measured", 3)
    api = prometheus_for(settings)
    try:
        report = gather(settings, api, window)
    except PrometheusError as error:
        _fail(f"{error}; is medsys up? (`medsys status`)", 3)
    finally:
        api.close()
    click.echo(render.as_json(report) if as_json else render.text(report))
    if html_file:
        Path(html_file).write_text(render.page(report), encoding="utf-8")
        click.echo(f"wrote {html_file}", err=as_json)


@cli.command()
@click.argument("names", nargs=-1, required=True)
def start(names: tuple[str, ...]) -> None:
    """Start stopped services (like docker start)."""
    _run(lambda: _cluster().start(names))


@cli.command()
@click.argument("names", nargs=-1, required=True)
def stop(names: tuple[str, ...]) -> None:
    """Stop services gracefully (like docker stop)."""
    _run(lambda: _cluster().stop(names))


@cli.command()
@click.argument("names", nargs=-1, required=True)
def restart(names: tuple[str, ...]) -> None:
    """Stop, then start services."""
    _run(lambda: _cluster().restart(names))


@cli.command()
@click.argument("names", nargs=-1, required=True)
def kill(names: tuple[str, ...]) -> None:
    """SIGKILL services: a crash, for fault injection."""
    _run(lambda: _cluster().kill(names))


@cli.command()
@click.argument("pairs", nargs=-1, required=True)
def ack(pairs: tuple[str, ...]) -> None:
    """Acknowledge the last automatic failover of PAIRS (clinical, admin, portal, all).

    After an automatic failover, another one on the same pair within the anti-flapping
    window (10 minutes) waits for this acknowledgement.
    """

    def acknowledge() -> None:
        for state in _cluster(quiet=True).acknowledge(pairs):
            click.echo(
                f"{state.pair}: failover acknowledged (primary {state.primary}, term {state.term})"
            )

    _run(acknowledge)


@cli.command()
@click.option("-v", "--volumes", is_flag=True, help="Also delete all data (the state folder).")
def down(volumes: bool) -> None:
    """Stop everything; with -v also delete all data."""
    _run(lambda: _cluster().down(delete_data=volumes))


@cli.command()
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines.")
@click.option("-n", "--lines", default=50, show_default=True, help="Lines of history per log.")
@click.argument("name", required=False)
def logs(follow: bool, lines: int, name: str | None) -> None:
    """Print service logs (all, or NAME's), each line prefixed by its service."""
    settings = _settings()
    if name is not None:
        _run(lambda: Cluster(settings).resolve((name,)))
    paths = sorted(settings.log_dir.glob(f"{name or '*'}.log"))
    paths = [path for path in paths if path.name != "supervisord.log" or name]
    if not paths:
        _fail(f"no logs yet in {settings.log_dir}", 2)
    _print_logs(paths, lines, follow)


def _print_logs(paths: list[Path], lines: int, follow: bool) -> None:
    width = max(len(path.stem) for path in paths)
    offsets = {}
    for path in paths:
        text = path.read_text(errors="replace")
        for line in text.splitlines()[-lines:]:
            click.echo(f"{path.stem.ljust(width)} | {line}")
        offsets[path] = len(text.encode())
    while follow:
        time.sleep(0.2)
        for path in paths:
            size = path.stat().st_size if path.exists() else 0
            if size < offsets[path]:
                offsets[path] = 0  # rotated
            if size > offsets[path]:
                with path.open("rb") as handle:
                    handle.seek(offsets[path])
                    chunk = handle.read().decode(errors="replace")
                offsets[path] = size
                for line in chunk.splitlines():
                    click.echo(f"{path.stem.ljust(width)} | {line}")


register_identity_commands(cli, _settings)


def main() -> None:
    """The launcher's verbs alone; ``medsys.cli`` adds the chaos and benchmark commands."""
    os.umask(0o022)
    cli()


@cli.group()
def backup() -> None:
    """Backups of every pair: take one now, list them, verify them.

    admin (pgBackRest): WAL archived continuously, a full backup daily and a differential
    hourly. clinical and portal (mariadb-backup): binary logs archived at least every
    MEDSYS_BINLOG_ARCHIVE_SECONDS (60) and a full copy daily. The `backups` service keeps
    the schedule (MEDSYS_BACKUP_FULL_EVERY, MEDSYS_BACKUP_DIFF_EVERY, in hours;
    MEDSYS_BACKUP_KEEP_FULL full ones kept, 7). The repository is MEDSYS_BACKUP_DIR
    (another disk, ideally), encrypted with a key kept in the secrets.
    """


def _backups_ready() -> tuple[Settings, Secrets]:
    from medsys.core.secrets import ensure_secrets
    from medsys.nodes import pgbackrest

    settings = _settings()
    secrets = ensure_secrets(settings)
    pgbackrest.write_config(settings, secrets)
    return settings, secrets


def _binlog_pair(settings: Settings, secrets: Secrets, pair: str) -> Any:
    from medsys.backups import mariabackup

    return mariabackup.PairBackups(settings, secrets, pair)


@backup.command("now")
@click.option(
    "--kind",
    type=click.Choice(["full", "diff", "incr"]),
    default="full",
    show_default=True,
    help="admin: full, diff (since the last full) or incr (since the last backup); "
    "clinical and portal always take a full copy.",
)
@_PAIR_OPTION
def backup_now(kind: str, pairs: tuple[str, ...]) -> None:
    """Take a backup now (from the replica where one replicates)."""
    from medsys.backups import mariabackup
    from medsys.nodes import pgbackrest
    from medsys.nodes.base import NodeError

    settings, secrets = _backups_ready()
    failed = False
    for pair in pairs or BACKUP_PAIRS:
        started = time.monotonic()
        try:
            if pair == "admin":
                taken = pgbackrest.take(settings, kind)
                label, what, size, stored = taken.label, taken.kind, taken.size, taken.stored
            else:
                copy = mariabackup.call_as_service_user(
                    settings, mariabackup.take_full, settings, secrets, pair
                )
                label, what, size, stored = copy.label, "full", copy.size, copy.stored_size
        except NodeError as error:
            click.secho(f"{pair}: {error}", fg="red", err=True)
            failed = True
            continue
        click.echo(
            f"{what} backup {label} of {pair} in {time.monotonic() - started:.1f} s: "
            f"{_mib(size)} of data, {_mib(stored)} stored (compressed, encrypted)"
        )
    if failed:
        sys.exit(1)


def _binlog_catalogue(settings: Settings, secrets: Secrets, pair: str) -> Any:
    return _binlog_pair(settings, secrets, pair).catalogue()


@backup.command("list")
@_PAIR_OPTION
def backup_list(pairs: tuple[str, ...]) -> None:
    """Every backup and the window a restore can reach, pair by pair."""
    from medsys.backups import mariabackup
    from medsys.backups.chain import window
    from medsys.nodes import pgbackrest
    from medsys.nodes.base import NodeError

    settings, secrets = _backups_ready()
    for pair in pairs or BACKUP_PAIRS:
        click.echo(f"== {pair}")
        try:
            if pair == "admin":
                found = pgbackrest.catalogue(settings)
                rows = [(b.label, b.kind, b.stopped, b.size, b.stored) for b in found.backups]
            else:
                listed = mariabackup.call_as_service_user(
                    settings, _binlog_catalogue, settings, secrets, pair
                )
                rows = [(b.label, "full", b.stopped, b.size, b.stored_size) for b in listed.backups]
        except NodeError as error:
            click.secho(f"{pair}: {error}", fg="red", err=True)
            continue
        if not rows:
            click.echo("no backup yet")
            continue
        click.echo(f"{'label':<36}{'kind':<6}{'ended (UTC)':<22}{'data':>10}{'stored':>10}")
        for label, kind, stopped, size, stored in rows:
            click.echo(
                f"{label:<36}{kind:<6}{stopped:%Y-%m-%d %H:%M:%S}  {_mib(size):>10}"
                f"{_mib(stored):>10}"
            )
        if pair == "admin":
            assert found.restorable_from is not None
            click.echo(
                f"restorable to any moment from {found.restorable_from:%Y-%m-%d %H:%M:%S} UTC "
                f"until the last archived WAL segment ({found.archive_max}); WAL is archived "
                f"at least every {pgbackrest.ARCHIVE_TIMEOUT_SECONDS} s"
            )
        else:
            reach = window(listed.backups, listed.segments)
            assert reach is not None
            click.echo(
                f"restorable to any second from {reach[0]:%Y-%m-%d %H:%M:%S} to "
                f"{reach[1]:%Y-%m-%d %H:%M:%S} UTC ({len(listed.segments)} binary logs "
                f"archived, at least every {mariabackup.archive_every():.0f} s)"
            )


def _binlog_verify(settings: Settings, secrets: Secrets, pair: str) -> str:
    return str(_binlog_pair(settings, secrets, pair).verify())


@backup.command("verify")
@_PAIR_OPTION
def backup_verify(pairs: tuple[str, ...]) -> None:
    """Read every backup and archived WAL segment or binary log back and check it."""
    from medsys.backups import mariabackup
    from medsys.nodes import pgbackrest
    from medsys.nodes.base import NodeError

    settings, secrets = _backups_ready()
    failed = False
    for pair in pairs or BACKUP_PAIRS:
        try:
            if pair == "admin":
                click.echo(f"admin: {pgbackrest.verify(settings)}")
            else:
                click.echo(
                    mariabackup.call_as_service_user(
                        settings, _binlog_verify, settings, secrets, pair
                    )
                )
        except NodeError as error:
            click.secho(f"{pair}: {error}", fg="red", err=True)
            failed = True
    if failed:
        sys.exit(1)


def _moment(text: str) -> datetime:
    """--to: ISO 8601; without an offset, Chile's time (America/Santiago)."""
    from zoneinfo import ZoneInfo

    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        _fail(f"--to {text!r}: give a time such as '2026-12-04 18:30:00' or with its offset", 2)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo("America/Santiago"))
    return moment


RESTORE_PORTS = {"admin": 15440, "clinical": 15306, "portal": 15307}
DATABASES = {"admin": "app2", "clinical": "app1", "portal": "app3"}


def _binlog_restore(
    settings: Settings, secrets: Secrets, pair: str, folder: Path, moment: datetime, port: int
) -> Any:
    return _binlog_pair(settings, secrets, pair).restore_into(folder, moment, port)


@cli.command()
@click.argument("pair", type=click.Choice(BACKUP_PAIRS))
@click.option("--to", "to", help="The moment to restore to (ISO 8601; no offset: Chile's time).")
@click.option(
    "--into",
    type=click.Path(file_okay=False),
    help="An empty or new folder (default: var/restores/PAIR-<time>).",
)
@click.option(
    "--port",
    type=int,
    help="Port of the restored copy (admin 15440, clinical 15306, portal 15307).",
)
@click.option(
    "--stop",
    "stop_folder",
    type=click.Path(file_okay=False),
    help="Stop the copy served from this folder.",
)
@click.option(
    "--adopt",
    "adopt_folder",
    type=click.Path(file_okay=False, exists=True),
    help="Make the restored copy in this folder the pair itself (the nodes' data is "
    "moved aside, never deleted).",
)
def restore(
    pair: str,
    to: str | None,
    into: str | None,
    port: int | None,
    stop_folder: str | None,
    adopt_folder: str | None,
) -> None:
    """Restore PAIR as it was at --to into a folder of its own and serve it on 127.0.0.1
    --port, beside the running pair, which is left alone. Look at it with the
    applications' users, copy back what was lost, then `medsys restore PAIR --stop DIR`.

    When the whole pair must go back to that moment, `medsys restore PAIR --adopt DIR`
    makes the copy the pair: its monitor, the backup scheduler and both nodes stop, both
    nodes' data is moved aside (NODE.replaced-TIME, kept), the copy becomes the primary's
    data, the other node is copied afresh from it, and a full backup is taken at once.
    Writes to the pair get 503 while this runs (seconds to a minute).

    admin reaches the exact moment; clinical and portal the whole second before it (their
    binary logs time transactions to the second).
    """
    from medsys.backups import mariabackup
    from medsys.backups.chain import PlanError
    from medsys.core.topology import pair_named
    from medsys.launcher import adopt
    from medsys.nodes import pgbackrest
    from medsys.nodes.postgres import postgres_bin

    settings, secrets = _backups_ready()
    if adopt_folder:
        started = time.monotonic()

        def swap_in() -> None:
            for line in adopt.adopt(_cluster(), pair, Path(adopt_folder).absolute()):
                click.echo(line)
            took = time.monotonic() - started
            click.echo(f"{pair} is the restored copy now ({took:.0f} s)")

        _run(swap_in)
        return
    port = port or RESTORE_PORTS[pair]
    if stop_folder:
        try:
            adopt.stop_restored(settings, pair_named(pair), Path(stop_folder).absolute())
        except NodeError as error:
            _fail(str(error), 1)
        click.echo(f"stopped the copy in {stop_folder} (its files are kept)")
        return
    if to is None:
        _fail("say when to restore to: --to '2026-12-04 18:30:00'", 2)
    moment = _moment(to)
    stamp = moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = Path(into).absolute() if into else settings.state_dir / "restores" / f"{pair}-{stamp}"
    folder.parent.mkdir(parents=True, exist_ok=True)
    folder.parent.chmod(0o755)
    started = time.monotonic()
    note = ""
    try:
        if pair == "admin":
            pgbackrest.restore_into(settings, folder, moment)
            pgbackrest.serve_restored(settings, folder, port, postgres_bin("postgres"))
        else:
            mariabackup.restore_folders(settings, folder)
            plan = mariabackup.call_as_service_user(
                settings, _binlog_restore, settings, secrets, pair, folder, moment, port
            )
            note = f"\nfrom the copy {plan.backup.label} and {len(plan.steps)} archived binary logs"
            if not plan.complete:
                note += (
                    f"\nwarning: the archive reaches only {plan.reaches:%Y-%m-%d %H:%M:%S} UTC; "
                    "what was written after that is not in this copy"
                )
        adopt.write_manifest(folder, pair, moment, port)
    except (NodeError, PlanError) as error:
        if pair != "admin" and isinstance(error, PlanError):
            # Nothing was restored: leave no empty folders behind.
            for made in (folder, folder.parent / f"{folder.name}.run"):
                if made.is_dir() and not any(made.iterdir()):
                    made.rmdir()
        _fail(str(error), 1)
    click.echo(
        f"{pair} as of {moment.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC restored into {folder} "
        f"in {time.monotonic() - started:.1f} s and served on 127.0.0.1:{port} "
        f"(database {DATABASES[pair]}; the applications' users and passwords as they were "
        f"then).{note}\nstop it with: medsys restore {pair} --stop {folder}"
        f"\nor make it the pair itself: medsys restore {pair} --adopt {folder}"
    )
