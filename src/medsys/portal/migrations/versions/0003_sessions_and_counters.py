"""Server-side patient sessions, atomic login counters, second-factor codes used once.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from medsys.core.identity import create_login_tables

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("accounts", sa.Column("totp_last_step", sa.Integer(), nullable=True))
    create_login_tables(op, sessions_table="sessions")
