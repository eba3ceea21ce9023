"""Staff logins: administrators, second factor, login counters and revocable sessions.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from medsys.core.identity import create_login_tables, second_factor_columns

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for column in [
        sa.Column("is_administrator", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("totp_pending", sa.String(length=64), nullable=True),
        *second_factor_columns(),
    ]:
        op.add_column("staff", column)
    create_login_tables(op, sessions_table="staff_sessions")
