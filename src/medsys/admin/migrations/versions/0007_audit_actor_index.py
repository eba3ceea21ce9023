"""The audit log indexed by actor and time, for each person's own actions.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

from medsys.core.audit import ACTOR_INDEX, add_actor_index

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_actor_index(op)


def downgrade() -> None:
    op.drop_index(ACTOR_INDEX, table_name="audit_log")
