"""Appointments a clerk booked for a patient on the phone, with the reservation key that
holds the clinical slot (the same key releases it).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from medsys.core.clock import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "phone_bookings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_rut", sa.String(length=12), nullable=False),
        sa.Column("slot_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.String(length=40), nullable=False),
        sa.Column("doctor", sa.String(length=120), nullable=False),
        sa.Column("specialty", sa.String(length=80), nullable=True),
        sa.Column("reservation_key", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("booked_by", sa.String(length=64), nullable=False),
        sa.Column("booked_at", UTCDateTime(), nullable=False),
        sa.Column("cancelled_by", sa.String(length=64), nullable=True),
        sa.Column("cancelled_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reservation_key"),
    )
    op.create_index("ix_phone_bookings_patient_rut", "phone_bookings", ["patient_rut"])
