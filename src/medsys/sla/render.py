"""The SLA report for people: a table on the terminal (``medsys sla``), a JSON document
for tools, and an HTML page with plots that opens offline (``--html``)."""

from __future__ import annotations

import html
import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from medsys.sla.config import SLA_ANSWER_SECONDS, SLA_AVAILABILITY
from medsys.sla.report import Report


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.3f} %"


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def _when(unix: float | None) -> str:
    if unix is None:
        return "-"
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(seconds: float) -> str:
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    if seconds >= 3600:
        return f"{sign}{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{sign}{seconds / 60:.1f} min"
    return f"{sign}{seconds:.0f} s"


def _gap(value: float | None) -> str:
    """A zero gap is no failed write attempt, which at 5 s sampling is not "no gap"."""
    return "none seen" if value == 0 else _secs(value)


def _verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("meets" if ok else "MISSES")


def text(report: Report) -> str:
    lines = [
        f"SLA over the last {_duration(report.window)}, as of {_when(report.at)} "
        f"(target: {SLA_AVAILABILITY:.0%} available, answers within {SLA_ANSWER_SECONDS:.0f} s)",
        f"samples held: {_pct(report.coverage)} of those expected (none while Prometheus was down)",
        "",
        f"{'service':<20}{'available':>12}  {'SLA':<7}{'budget left':>13}{'http p50':>11}"
        f"{'http p99':>11}",
    ]
    for s in report.services:
        left = "-"
        if s.budget is not None:
            left = f"{_duration(s.budget.left_seconds)} ({s.budget.left_share:.0%})"
        lines.append(
            f"{s.service:<20}{_pct(s.availability):>12}  {_verdict(s.meets_sla):<7}{left:>13}"
            f"{_secs(s.p50):>11}{_secs(s.p99):>11}"
        )
    lines += [
        "",
        f"{'journey':<22}{'attempts':>9}{'available':>12}{'p50':>9}{'p99':>9}{'slowest':>9}"
        f"  {'3 s':<6}",
    ]
    for j in report.journeys:
        lines.append(
            f"{j.journey:<22}{j.samples:>9}{_pct(j.availability):>12}{_secs(j.p50):>9}"
            f"{_secs(j.p99):>9}{_secs(j.slowest):>9}  {_verdict(j.meets_answer_sla):<6}"
        )
    lines += ["", f"failovers: {len(report.failovers)}"]
    if report.failovers:
        lines.append(
            f"{'pair':<10}{'declared dead':<25}{'term':>5}{'detection':>11}{'promotion':>11}"
            f"{'write gap':>11}"
        )
    for f in report.failovers:
        lines.append(
            f"{f.pair:<10}{_when(f.declared_dead):<25}{f.term:>5}{_secs(f.detection):>11}"
            f"{_secs(f.promotion):>11}{_gap(f.write_gap):>11}"
        )
    lines += ["", f"alerts firing: {len(report.alerts)}"]
    for alert in report.alerts:
        lines.append(f"  {alert['labels'].get('alertname')}: {alert['annotations'].get('summary')}")
    return "\n".join(lines)


def as_json(report: Report) -> str:
    document: dict[str, Any] = asdict(report)
    document.pop("timelines")
    return json.dumps(document, indent=2, default=str)


def page(report: Report) -> str:
    """One HTML file: tables, and plots drawn by Plotly, its script included (offline)."""
    from plotly import graph_objects as go
    from plotly.offline import get_plotlyjs

    def times(points: list[tuple[float, float]]) -> list[str]:
        return [datetime.fromtimestamp(t, UTC).isoformat() for t, _ in points]

    def figure(
        series: dict[str, list[tuple[float, float]]], title: str, axis: str, **y: Any
    ) -> str:
        drawn = go.Figure()
        for name, points in sorted(series.items()):
            drawn.add_trace(
                go.Scatter(x=times(points), y=[v for _, v in points], name=name, mode="lines")
            )
        for failover in report.failovers:
            moment = datetime.fromtimestamp(failover.declared_dead, UTC).isoformat()
            drawn.add_vline(x=moment, line_dash="dash", line_color="#b3261e")
        drawn.update_layout(
            title=title, yaxis_title=axis, height=320, margin={"l": 60, "r": 20, "t": 50, "b": 40}
        )
        drawn.update_yaxes(rangemode="tozero", **y)
        return str(drawn.to_html(full_html=False, include_plotlyjs=False))

    timelines = report.timelines
    plots = [
        figure(
            timelines.get("availability", {}),
            "Disponibilidad por servicio",
            "disponible",
            range=[0, 1.05],
            tickformat=".0%",
        ),
        figure(timelines.get("latency", {}), "Tiempo de respuesta por recorrido (máximo)", "s"),
        figure(timelines.get("lag_seconds", {}), "Retraso de réplica (MariaDB/MySQL)", "s"),
        figure(timelines.get("lag_bytes", {}), "Retraso de réplica (PostgreSQL)", "bytes"),
    ]

    def row(*cells: str) -> str:
        return "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>"

    services = "".join(
        row(
            s.service,
            _pct(s.availability),
            {True: "cumple", False: "NO CUMPLE", None: "-"}[s.meets_sla],
            "-" if s.budget is None else _duration(s.budget.left_seconds),
            _secs(s.p99),
        )
        for s in report.services
    )
    journeys = "".join(
        row(j.description, str(j.samples), _pct(j.availability), _secs(j.p50), _secs(j.p99))
        for j in report.journeys
    )
    failovers = "".join(
        row(
            f.pair,
            _when(f.declared_dead),
            _secs(f.detection),
            _secs(f.promotion),
            "ningún intento fallido" if f.write_gap == 0 else _secs(f.write_gap),
        )
        for f in report.failovers
    ) or row("ninguna", "", "", "", "")
    alerts = (
        "".join(
            f"<li>{html.escape(str(a['annotations'].get('summary')))}</li>" for a in report.alerts
        )
        or "<li>ninguna</li>"
    )
    return f"""<!doctype html>
<html lang="es-CL"><head><meta charset="utf-8">
<title>medsys: nivel de servicio</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; color: #1d2733; }}
h1 {{ color: #0b5d73; }} table {{ border-collapse: collapse; width: 100%; margin-bottom: 1.5rem; }}
th, td {{ border-bottom: 1px solid #d5dde3; padding: .35rem .6rem; text-align: left; }}
th {{ background: #eef4f6; }} .note {{ color: #52606d; }}
</style>
<script>{get_plotlyjs()}</script>
</head><body><main>
<h1>Nivel de servicio de medsys</h1>
<p>Últimos {_duration(report.window)}, hasta {_when(report.at)}.
Meta: {SLA_AVAILABILITY * 100:.0f} % disponible al mes y respuestas en menos de
{SLA_ANSWER_SECONDS:.0f} s.
Muestras disponibles: {_pct(report.coverage)} de las esperadas.</p>
<h2>Servicios</h2>
<table><tr><th>Servicio</th><th>Disponibilidad</th><th>Meta</th><th>Presupuesto de error
restante</th><th>p99 HTTP</th></tr>{services}</table>
<h2>Recorridos</h2>
<table><tr><th>Recorrido</th><th>Intentos</th><th>Disponibilidad</th><th>p50</th><th>p99</th></tr>
{journeys}</table>
<h2>Conmutaciones por falla</h2>
<p class="note">Detección: del primer sondeo fallido a la declaración de caída. Promoción:
hasta que la réplica acepta escrituras. Brecha de escritura: medida por el recorrido de
escritura, con la resolución de su muestreo (5 s).</p>
<table><tr><th>Pareja</th><th>Declarada caída</th><th>Detección</th><th>Promoción</th>
<th>Brecha de escritura</th></tr>{failovers}</table>
<h2>Alertas activas</h2><ul>{alerts}</ul>
<h2>En el tiempo</h2><p class="note">Las líneas rojas marcan cada conmutación.</p>
{"".join(plots)}
</main></body></html>
"""
