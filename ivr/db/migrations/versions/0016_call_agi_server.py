"""calls.agi_server: which FastAGI server runs each call, so a restarting server closes only its own
interrupted calls

Revision ID: 0016_call_agi_server
Revises: 0015_call_policy
Create Date: 2026-12-04 23:20:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0016_call_agi_server'
down_revision = '0015_call_policy'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('calls') as batch:
        batch.add_column(sa.Column('agi_server', sa.String(length=128), server_default='', nullable=False))
        batch.create_index('ix_calls_agi_server', ['agi_server'])


def downgrade() -> None:
    with op.batch_alter_table('calls') as batch:
        batch.drop_index('ix_calls_agi_server')
        batch.drop_column('agi_server')
