"""What may happen to a booked visit, pure: the agenda's rules, unit-tested without a server.

booked → arrived (check-in) → in consultation (the doctor starts it) → finished (the
consultation is closed); booked or arrived → no-show. Nothing goes back: a mistaken
check-in is corrected by the next step, never by rewriting what was recorded.
"""

from __future__ import annotations

from enum import StrEnum

from medsys.clinical.models import VisitStatus


class VisitEvent(StrEnum):
    CHECK_IN = "check-in"
    START = "start"
    FINISH = "finish"
    NO_SHOW = "no-show"


_NEXT: dict[tuple[VisitStatus, VisitEvent], VisitStatus] = {
    (VisitStatus.BOOKED, VisitEvent.CHECK_IN): VisitStatus.ARRIVED,
    (VisitStatus.BOOKED, VisitEvent.START): VisitStatus.IN_CONSULTATION,
    (VisitStatus.ARRIVED, VisitEvent.START): VisitStatus.IN_CONSULTATION,
    (VisitStatus.IN_CONSULTATION, VisitEvent.FINISH): VisitStatus.FINISHED,
    (VisitStatus.BOOKED, VisitEvent.NO_SHOW): VisitStatus.NO_SHOW,
    (VisitStatus.ARRIVED, VisitEvent.NO_SHOW): VisitStatus.NO_SHOW,
}

LABELS = {
    VisitStatus.BOOKED: "Agendada",
    VisitStatus.ARRIVED: "Llegó",
    VisitStatus.IN_CONSULTATION: "En consulta",
    VisitStatus.FINISHED: "Atendida",
    VisitStatus.NO_SHOW: "No se presentó",
}

_REFUSALS = {
    VisitEvent.CHECK_IN: "Solo se puede registrar la llegada de una hora agendada.",
    VisitEvent.START: "La consulta se inicia desde una hora agendada o con el paciente llegado.",
    VisitEvent.FINISH: "Solo se termina una visita en consulta.",
    VisitEvent.NO_SHOW: "Solo una hora agendada o con llegada puede marcarse como inasistencia.",
}


class VisitRuleError(ValueError):
    """The event does not apply to the visit as it stands; the message is for staff."""


def next_status(current: VisitStatus, event: VisitEvent) -> VisitStatus:
    try:
        return _NEXT[(current, event)]
    except KeyError:
        raise VisitRuleError(_REFUSALS[event]) from None


def status_of(reserved: bool, recorded: str | None) -> VisitStatus | None:
    """A reserved slot with no visit status yet (booked before the workspace) is booked."""
    if not reserved:
        return None
    return VisitStatus(recorded) if recorded else VisitStatus.BOOKED
