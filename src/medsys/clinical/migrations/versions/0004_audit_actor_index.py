"""The audit log indexed by actor and time, for each person's own actions.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

from medsys.core.audit import ACTOR_INDEX, add_actor_index

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_actor_index(op)


def downgrade() -> None:
    op.drop_index(ACTOR_INDEX, table_name="audit_log")
