"""``medsys chaos`` and ``medsys bench``: fault scenarios and benchmarks against the live
system, added to the launcher's command group by ``medsys.cli`` (the chaos lab drives the
launcher, so the launcher does not import it). The lab is imported only when a command
runs: the CLI starts without it."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from medsys.launcher.cli import _cluster, _fail, _mib, _run
from medsys.launcher.cluster import database_memory, measurement_memory

if TYPE_CHECKING:
    from medsys.chaos.lab import Lab


def register(cli: click.Group) -> None:
    @cli.command()
    @click.argument("scenario")
    @click.option("--pair", "pair_name", help="clinical, admin or portal (default: per scenario).")
    @click.option("--writers", default=4, show_default=True, help="Concurrent writers.")
    @click.option("--duration", default=60.0, show_default=True, help="flip-flop: seconds.")
    @click.option(
        "--runs", default=3, show_default=True, help="partitions: runs per pair (variants rotate)."
    )
    @click.option("--minutes", default=10.0, show_default=True, help="soak: how long.")
    @click.option(
        "--every", default=60.0, show_default=True, help="soak: seconds between faults (±20 %)."
    )
    @click.option(
        "--html",
        "html_file",
        default="sla-soak.html",
        show_default=True,
        help="soak: where the SLA report is written.",
    )
    def chaos(
        scenario: str,
        pair_name: str | None,
        writers: int,
        duration: float,
        runs: int,
        minutes: float,
        every: float,
        html_file: str,
    ) -> None:
        """Run a fault SCENARIO against the live system and print measured figures.

        Scenarios: kill-primary, stop-primary, freeze-primary (SIGSTOP), kill-replica,
        kill-monitor (mid-detection), late-monitor (started after its primary died),
        flip-flop (failovers back and forth under load), stop-app1, stop-clinical (both
        clinical instances: the middleware's breakers open), partition-kill (the replication
        link cut both ways with nftables, then the primary SIGKILLed), partition-kill-towards
        and partition-kill-back (the cut in one direction only), partition-kill-late (the
        primary writes alone for 5 s first: the promotion must be refused), isolate-primary
        (monitor frozen and replication cut while the apps still reach the primary: it must
        acknowledge nothing alone), isolate-replica (its link cut 6 s: no failover),
        isolate-monitor (frozen 10 s: nothing happens), `partitions` (--runs of those seven in
        turn on every pair, or on --pair), or `all`. `soak`: --minutes of load on every pair
        while a random primary, replica or application instance is killed or frozen about
        --every seconds, then the SLA Prometheus measured (table and --html report; needs
        measurement on). Exits 1 when a guarantee broke: an
        acknowledged write lost, a row duplicated, two writable nodes, a failover that did not
        happen or happened twice, an old primary back writable.
        """
        from medsys.chaos.lab import Lab
        from medsys.chaos.scenarios import (
            ALL,
            APP_SCENARIOS,
            PARTITION_SCENARIOS,
            SCENARIOS,
            render,
            run,
            summary,
        )
        from medsys.core.topology import pair_named

        # Connections to a killed server fail on reset; the runner counts what clients see.
        logging.getLogger("sqlalchemy.pool").setLevel(logging.CRITICAL)

        if scenario == "soak":
            _soak(minutes, every, html_file)
            return
        known = (*SCENARIOS, *APP_SCENARIOS)
        if scenario not in ("all", "partitions") and scenario not in known:
            _fail(
                f"unknown scenario {scenario!r}; scenarios: {', '.join(known)}, partitions, all", 2
            )
        try:
            chosen = pair_named(pair_name) if pair_name else None
        except KeyError as error:
            _fail(str(error.args[0]), 2)
        cluster = _cluster(quiet=True)
        if not cluster.supervisor.is_running():
            _fail("medsys is not running here; start it with `medsys up`", 3)
        if scenario == "all":
            plan = [(name, chosen or pair_named(default)) for name, default in ALL]
        elif scenario == "partitions":
            pairs = [chosen] if chosen else [pair_named(n) for n in ("clinical", "admin", "portal")]
            plan = [
                (PARTITION_SCENARIOS[i % len(PARTITION_SCENARIOS)], pair)
                for pair in pairs
                for i in range(runs)
            ]
        else:
            plan = [(scenario, chosen or pair_named("clinical"))]
        lab = Lab(cluster.settings, say=click.echo)
        results = []
        for name, pair in plan:
            click.echo(f"\n--- {name} on {pair.name} ...")
            figures = run(lab, name, pair, writers=writers, duration=duration)
            click.echo(render(figures))
            results.append(figures)
        click.echo("\n" + summary(results))
        failed = sum(not figures.passed for figures in results)
        click.echo(f"\n{len(plan) - failed} passed, {failed} failed")
        sys.exit(1 if failed else 0)

    def _soak(minutes: float, every: float, html_file: str) -> None:
        from medsys.chaos.lab import Lab
        from medsys.chaos.soak import render, soak
        from medsys.sla import render as sla_render
        from medsys.sla.gather import gather, prometheus_for

        cluster = _cluster(quiet=True)
        if not cluster.supervisor.is_running():
            _fail("medsys is not running here; start it with `medsys up`", 3)
        if not cluster.settings.measurement:
            _fail("the soak reads its SLA from Prometheus: set MEDSYS_MEASUREMENT=on, `up`", 3)
        if minutes <= 0 or every < 20:
            _fail("--minutes must be positive and --every at least 20 seconds", 2)
        logging.getLogger("httpx").setLevel(logging.WARNING)
        result = soak(Lab(cluster.settings, say=click.echo), minutes, every=every, say=click.echo)
        click.echo("\n" + render(result))
        time.sleep(12)  # the last journeys' samples, scraped every 5 s
        api = prometheus_for(cluster.settings)
        try:
            window = int(time.time() - result.started) + 1
            report = gather(cluster.settings, api, window)
        finally:
            api.close()
        click.echo("\n" + sla_render.text(report))
        Path(html_file).write_text(sla_render.page(report), encoding="utf-8")
        click.echo(f"\nwrote {html_file}")
        sys.exit(1 if result.broken else 0)

    @cli.group()
    def bench() -> None:
        """Benchmarks that print figures (not pass/fail tests)."""

    def _running_lab() -> Lab:
        """The live system a benchmark measures (it must be up); quiet HTTP client logs."""
        from medsys.chaos.lab import Lab

        cluster = _cluster(quiet=True)
        if not cluster.supervisor.is_running():
            _fail("medsys is not running here; start it with `medsys up`", 3)
        logging.getLogger("httpx").setLevel(logging.WARNING)
        return Lab(cluster.settings, say=click.echo)

    @bench.command("startup")
    def bench_startup() -> None:
        """Seconds from cold (all stopped, data kept) to all healthy, and database memory.

        Runs `down` then `up` on this state folder; run it on an installed machine.
        """
        cluster = _cluster(quiet=True)

        def measure() -> None:
            if not cluster.supervisor.is_running() and not cluster.settings.cluster_dir.exists():
                click.echo("first `up` (initialises data; not the figure)...")
                cluster.up()
            cluster.down(delete_data=False)
            seconds = cluster.up()
            rows = cluster.status()
            click.echo(f"cold start to all healthy: {seconds:.2f} s (target <= 30 s)")
            click.echo(
                f"database resident memory: {_mib(database_memory(rows))} (target <= 1536 MiB)"
            )
            if cluster.settings.measurement:
                resident, proportional = measurement_memory(rows)
                click.echo(
                    f"Prometheus, blackbox exporter and prober: {_mib(proportional)} PSS "
                    f"(target <= 150 MiB), {_mib(resident)} resident"
                )

        _run(measure)

    @bench.command("backup")
    @click.option(
        "--consultations",
        default=100_000,
        show_default=True,
        help="Synthetic consultations seeded into the clinical pair first (kept).",
    )
    @click.option(
        "--invoices",
        default=100_000,
        show_default=True,
        help="Synthetic invoices seeded into the admin pair first (kept; --pair admin).",
    )
    @click.option(
        "--pair",
        type=click.Choice(["clinical", "admin"]),
        default="clinical",
        show_default=True,
        help="Which pair: clinical (mariadb-backup) or admin (pgBackRest).",
    )
    @click.option("--runs", default=3, show_default=True, help="Interleaved rounds.")
    def bench_backup(consultations: int, invoices: int, pair: str, runs: int) -> None:
        """Backup and restore time and size of a pair on a seeded clinic, the portal's
        p99 with and without a backup running, and the recovery point."""
        from medsys.chaos.backup_bench import admin_backup_figures, backup_figures

        lab = _running_lab()
        if pair == "admin":
            _run(lambda: admin_backup_figures(lab, invoices, runs, click.echo))
        else:
            _run(lambda: backup_figures(lab, consultations, runs, click.echo))

    @bench.command("middleware")
    @click.option("--requests", default=300, show_default=True, help="Requests per series.")
    @click.option("--runs", default=3, show_default=True, help="Rounds, each printed.")
    def bench_middleware(requests: int, runs: int) -> None:
        """Latency of a patient's history called directly on clinical, through a bare
        Python hop (the floor: uvicorn and aiohttp forwarding, nothing else), through the
        middleware (consultations only, as the portal asks, and joined with admin's
        demographics) and as the portal's page, interleaved, in --runs rounds (min /
        median / max of their medians); then fail-fast latency with the breakers open
        (stops both clinical instances briefly)."""
        from medsys.chaos.bench import middleware_figures

        lab = _running_lab()
        _run(lambda: middleware_figures(lab, requests, runs, click.echo))

    @bench.command("portal")
    @click.option("--users", default=50, show_default=True, help="Concurrent patients.")
    @click.option("--seconds", default=20.0, show_default=True, help="How long they load pages.")
    @click.option("--think", default=1.0, show_default=True, help="Seconds a patient reads a page.")
    @click.option(
        "--in-step",
        is_flag=True,
        help="Every patient loads a page at the same instant, every round (the worst burst); "
        "by default each reads at its own pace (0.5-1.5 x --think, random start).",
    )
    @click.option(
        "--generator",
        type=click.Choice(["auto", "wrk", "python"]),
        default="auto",
        show_default=True,
        help="What loads the pages with --think 0: wrk (in C; leaves the CPU to the system) "
        "or Python threads (about 2.6 ms of CPU a page themselves). auto: wrk when installed "
        "(`medsys up` installs it). With --think above 0, always Python.",
    )
    @click.option(
        "--runs", default=1, show_default=True, help="Runs in a row; min / median / max after."
    )
    def bench_portal(
        users: int, seconds: float, think: float, in_step: bool, generator: str, runs: int
    ) -> None:
        """History-page latency (p50/p99) with many patients at once, on this machine."""
        from medsys.chaos import wrk_load
        from medsys.chaos.bench import portal_figures

        if generator == "auto":
            generator = "wrk" if wrk_load.available() else "python"
        elif generator == "wrk" and not wrk_load.available():
            _fail("wrk is not installed: `apt-get install wrk` (or `medsys up`)", 2)
        lab = _running_lab()
        _run(
            lambda: portal_figures(
                lab,
                users,
                seconds,
                think,
                click.echo,
                in_step=in_step,
                generator=generator,
                runs=max(1, runs),
            )
        )

    @bench.command("staff")
    @click.option("--users", default=20, show_default=True, help="Concurrent doctors and nurses.")
    @click.option("--seconds", default=30.0, show_default=True, help="How long they work.")
    @click.option("--think", default=1.0, show_default=True, help="Seconds a page is read.")
    def bench_staff(users: int, seconds: float, think: float) -> None:
        """Clinical workspace page latency (agenda, chart, consultation) with many staff."""
        from medsys.chaos.bench import staff_figures

        lab = _running_lab()
        _run(lambda: staff_figures(lab, users, seconds, think, click.echo))

    @bench.command("office")
    @click.option(
        "--users", default=20, show_default=True, help="Concurrent clerks and accountants."
    )
    @click.option("--seconds", default=30.0, show_default=True, help="How long they work.")
    @click.option("--think", default=1.0, show_default=True, help="Seconds a page is read.")
    def bench_office(users: int, seconds: float, think: float) -> None:
        """Front-office page latency (search, patient, reports) with many clerks and accountants."""
        from medsys.chaos.bench import office_figures

        lab = _running_lab()
        _run(lambda: office_figures(lab, users, seconds, think, click.echo))
