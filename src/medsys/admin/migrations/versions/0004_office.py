"""The front office: an emergency contact per patient, and the office forms remembered by
their idempotency key (written with what the form did, so a resend changes nothing).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from medsys.core.clock import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("patients", sa.Column("emergency_name", sa.String(length=120), nullable=True))
    op.add_column("patients", sa.Column("emergency_phone", sa.String(length=16), nullable=True))
    op.create_table(
        "form_submissions",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=300), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
