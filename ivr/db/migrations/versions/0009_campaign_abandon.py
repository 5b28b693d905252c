"""campaign abandon measure and planning: when each call's message started, how long after answer, whether
no agent was free; when each campaign was last planned

campaign_attempts.message_started_at and message_delay_ms (Asterisk's clock,
answer to the intro prompt) and agent_unavailable (the customer wanted a
person and none was free) make the abandoned measure (docs/campaigns.md
"Abandoned calls"); campaigns.last_planned_at is when hotline.plan_campaigns
(or a start) last selected the campaign's policies.

Revision ID: 0009_campaign_abandon
Revises: 0008_campaign_pacing
Create Date: 2026-11-23 04:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0009_campaign_abandon'
down_revision = '0008_campaign_pacing'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('campaign_attempts') as batch:
        batch.add_column(sa.Column('message_started_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('message_delay_ms', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('agent_unavailable', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.create_index('ix_campaign_attempts_campaign_ended', ['campaign_id', 'ended_at'])
    with op.batch_alter_table('campaigns') as batch:
        batch.add_column(sa.Column('last_planned_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('campaigns') as batch:
        batch.drop_column('last_planned_at')
    with op.batch_alter_table('campaign_attempts') as batch:
        batch.drop_index('ix_campaign_attempts_campaign_ended')
        batch.drop_column('agent_unavailable')
        batch.drop_column('message_delay_ms')
        batch.drop_column('message_started_at')
