"""customers' own time zone: campaigns call within the calling window of the customer's local time

Empty means the contact centre's zone (the `timezone` setting), as before.

Revision ID: 0010_customer_time_zone
Revises: 0009_campaign_abandon
Create Date: 2026-12-04 15:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0010_customer_time_zone'
down_revision = '0009_campaign_abandon'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('customers') as batch:
        batch.add_column(sa.Column('time_zone', sa.String(length=64), nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('customers') as batch:
        batch.drop_column('time_zone')
