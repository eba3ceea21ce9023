"""When the consultation behind each charge was closed: the capture's cursor, in place of
the consultation id (ids follow booking order, and a consultation booked ahead and closed
after a later one was never captured).

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

from medsys.core.clock import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Empty for charges captured before: the next capture reads from the first closed
    # consultation, and those already captured are skipped as ever.
    op.add_column("charges", sa.Column("closed_at", UTCDateTime(), nullable=True))
    op.create_index("ix_charges_closed_at", "charges", ["closed_at"])


def downgrade() -> None:
    op.drop_index("ix_charges_closed_at", table_name="charges")
    op.drop_column("charges", "closed_at")
