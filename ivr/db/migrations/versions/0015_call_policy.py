"""the policy a call was about (calls.policy_no, copied to its queue wait) for first-call resolution per policy

Revision ID: 0015_call_policy
Revises: 0014_teams_transfers
Create Date: 2026-12-04 23:55:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0015_call_policy'
down_revision = '0014_teams_transfers'
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ('calls', 'queue_calls'):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column('policy_no', sa.String(length=32), server_default='', nullable=False))


def downgrade() -> None:
    for table in ('queue_calls', 'calls'):
        with op.batch_alter_table(table) as batch:
            batch.drop_column('policy_no')
