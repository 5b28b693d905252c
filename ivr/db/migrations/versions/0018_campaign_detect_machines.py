"""campaigns: answering-machine detection, chosen per campaign (off by default)

Revision ID: 0018_campaign_detect_machines
Revises: 0017_attempt_dialled_via
Create Date: 2026-12-06 23:20:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0018_campaign_detect_machines'
down_revision = '0017_attempt_dialled_via'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('campaigns') as batch:
        batch.add_column(sa.Column('detect_machines', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('campaigns') as batch:
        batch.drop_column('detect_machines')
