"""campaign pacing: campaigns.next_dial_at, the next moment the campaign may originate

The dialer takes a slot with one conditional UPDATE (next_dial_at unset or
past, and fewer than max_channels attempts dialing), so the calls-per-second
limit holds across any number of workers.

Revision ID: 0008_campaign_pacing
Revises: 0007_campaigns
Create Date: 2026-11-22 04:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0008_campaign_pacing'
down_revision = '0007_campaigns'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('campaigns') as batch:
        batch.add_column(sa.Column('next_dial_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('campaigns') as batch:
        batch.drop_column('next_dial_at')
