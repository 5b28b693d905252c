"""teams and transfers for the KPIs: console_users.team, queue_calls.transferred

Revision ID: 0014_teams_transfers
Revises: 0013_audit_log
Create Date: 2026-12-04 23:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0014_teams_transfers'
down_revision = '0013_audit_log'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('console_users') as batch:
        batch.add_column(sa.Column('team', sa.String(length=64), server_default='', nullable=False))
    with op.batch_alter_table('queue_calls') as batch:
        batch.add_column(sa.Column('transferred', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('queue_calls') as batch:
        batch.drop_column('transferred')
    with op.batch_alter_table('console_users') as batch:
        batch.drop_column('team')
