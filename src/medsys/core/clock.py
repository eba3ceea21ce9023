"""Time as the clinic keeps it: stored in UTC, shown in America/Santiago.

A naive date-time from a person or the seed's API means Santiago wall-clock time; an
aware one is converted. ``UTCDateTime`` stores UTC in every engine (MariaDB's DATETIME has
no zone, so it stores naive UTC and hands back aware UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from medsys.core.errors import InvalidInput

SANTIAGO = ZoneInfo("America/Santiago")


def utc_now() -> datetime:
    return datetime.now(UTC)


def parse_instant(text: object, field: str = "fecha") -> datetime:
    """An aware UTC datetime from ISO 8601 text; naive text is Santiago local time."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(f"'{field}' debe ser una fecha y hora ISO 8601, p. ej. 2026-03-02T10:00")
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"'{field}' no es una fecha válida: use el formato 2026-03-02T10:00"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=SANTIAGO)
    return parsed.astimezone(UTC)


def local_iso(moment: datetime | None) -> str | None:
    """ISO 8601 in Santiago time with its offset: unambiguous and what people read."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(SANTIAGO).isoformat()


class UTCDateTime(TypeDecorator[datetime]):
    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        return dialect.type_descriptor(DateTime(timezone=dialect.name == "postgresql"))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("refusing a naive datetime: say which zone it is in")
        value = value.astimezone(UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Spanish month names, for people.
MONTHS = (
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
)


def date_text(iso: str | None) -> str | None:
    """'15 de marzo de 2026, 10:00' from a Santiago ISO time."""
    if not iso:
        return None
    moment = datetime.fromisoformat(iso)
    # Fields, not strftime: this runs for every consultation of every history page.
    hour, minute = moment.hour, moment.minute
    return f"{moment.day} de {MONTHS[moment.month - 1]} de {moment.year}, {hour:02d}:{minute:02d}"
