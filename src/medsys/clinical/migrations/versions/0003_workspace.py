"""The clinical workspace: visits on booked slots (arrived, in consultation, finished,
no-show), consultations linked to their slot, diagnoses that can be refuted or marked
entered-in-error, medications that can be stopped, allergies, form submissions
remembered by their idempotency key, and the documents issued (prescriptions,
certificates) with their verification codes.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from medsys.core.clock import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("slots", sa.Column("visit_status", sa.String(length=20), nullable=True))
    op.add_column("slots", sa.Column("checked_in_at", UTCDateTime(), nullable=True))
    op.add_column("consultations", sa.Column("slot_id", sa.Integer(), nullable=True))
    op.create_foreign_key("fk_consultation_slot", "consultations", "slots", ["slot_id"], ["id"])
    op.create_unique_constraint("uq_consultation_slot", "consultations", ["slot_id"])
    for column in (
        sa.Column("status_reason", sa.String(length=300), nullable=True),
        sa.Column("status_changed_by", sa.String(length=64), nullable=True),
        sa.Column("status_changed_at", UTCDateTime(), nullable=True),
    ):
        op.add_column("diagnoses", column)
    for column in (
        sa.Column("stopped_at", UTCDateTime(), nullable=True),
        sa.Column("stopped_by", sa.String(length=64), nullable=True),
        sa.Column("stop_reason", sa.String(length=300), nullable=True),
    ):
        op.add_column("treatments", column)
    op.create_table(
        "allergies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_rut", sa.String(length=12), nullable=False),
        sa.Column("substance", sa.String(length=120), nullable=False),
        sa.Column("reaction", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_allergies_patient_rut", "allergies", ["patient_rut"])
    op.create_table(
        "form_submissions",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=300), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "documents",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("consultation_id", sa.Integer(), nullable=False),
        sa.Column("patient_rut", sa.String(length=12), nullable=False),
        sa.Column("issued_by", sa.String(length=64), nullable=False),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["consultation_id"], ["consultations.id"]),
        sa.PrimaryKeyConstraint("code"),
    )
