"""campaign attempts: which Asterisk (its AMI address) each was dialled through

With several Asterisks each worker dials through its own; reconciliation asks
only the Asterisk an attempt was dialled through. Empty for attempts dialled
before (any worker reconciles those, as before).

Revision ID: 0017_attempt_dialled_via
Revises: 0016_call_agi_server
Create Date: 2026-12-04 23:45:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0017_attempt_dialled_via'
down_revision = '0016_call_agi_server'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('campaign_attempts') as batch:
        batch.add_column(sa.Column('dialled_via', sa.String(length=128), nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('campaign_attempts') as batch:
        batch.drop_column('dialled_via')
