"""When each consultation was closed: billing's cursor. The consultation id was, and ids
follow booking order, not closing order: a consultation booked for next week closed after
today's walk-in was never charged.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from medsys.core.clock import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("consultations", sa.Column("closed_at", UTCDateTime(), nullable=True))
    # Closed consultations change no more, so their last change is their closing.
    op.execute("UPDATE consultations SET closed_at = updated_at WHERE status = 'finished'")
    op.create_index("ix_consultations_closed_at", "consultations", ["closed_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_consultations_closed_at", table_name="consultations")
    op.drop_column("consultations", "closed_at")
