"""The audit log indexed by patient and time, for who looked at a patient, newest first.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

from medsys.core.audit import index_patients_by_time, index_patients_only

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    index_patients_by_time(op)


def downgrade() -> None:
    index_patients_only(op)
