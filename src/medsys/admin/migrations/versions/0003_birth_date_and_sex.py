"""Patients' date of birth and sex, for the chart the care team reads.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("patients", sa.Column("birth_date", sa.Date(), nullable=True))
    op.add_column("patients", sa.Column("sex", sa.String(length=16), nullable=True))
