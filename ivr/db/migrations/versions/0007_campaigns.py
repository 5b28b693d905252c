"""outbound campaigns: campaigns, their attempts, do-not-call, "already paid" reports

campaign_attempts has one row per (campaign, policy, cycle, attempt_no),
unique, committed before any dial: with the conditional planned -> dialing
update it makes every attempt dial at most once, whatever the workers do.
do_not_call keeps every opt-out with its end (at least dnc_min_months);
payment_reconciliation holds "I have already paid" per policy and cycle,
so that policy is not called again that cycle.

Revision ID: 0007_campaigns
Revises: 0006_agent_states
Create Date: 2026-11-22 02:45:15
"""
from alembic import op
import sqlalchemy as sa


revision = '0007_campaigns'
down_revision = '0006_agent_states'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('campaigns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('due_within_days', sa.Integer(), nullable=True),
    sa.Column('include_grace', sa.Boolean(), nullable=False),
    sa.Column('lapsing_within_days', sa.Integer(), nullable=True),
    sa.Column('product_lines', sa.String(length=100), nullable=False),
    sa.Column('branches', sa.Text(), nullable=False),
    sa.Column('window_start', sa.String(length=5), nullable=False),
    sa.Column('window_end', sa.String(length=5), nullable=False),
    sa.Column('max_attempts', sa.Integer(), nullable=False),
    sa.Column('min_gap_hours', sa.Integer(), nullable=False),
    sa.Column('max_channels', sa.Integer(), nullable=False),
    sa.Column('calls_per_second', sa.Double(), nullable=False),
    sa.Column('state', sa.Enum('draft', 'running', 'paused', 'stopped', name='campaign_state', native_enum=False, length=32), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('paused_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('stopped_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('do_not_call',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('source', sa.Enum('ivr_key_9', 'import', 'agent', name='dnc_source', native_enum=False, length=32), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('until', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name='fk_do_not_call_customer'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('do_not_call', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_do_not_call_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index('ix_do_not_call_number_until', ['number', 'until'], unique=False)

    op.create_table('campaign_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('policy_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('cycle', sa.Date(), nullable=False),
    sa.Column('attempt_no', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('status', sa.Enum('planned', 'skipped', 'dialing', 'answered', 'busy', 'no_answer', 'congestion', 'failed', 'invalid_number', 'customer_hung_up', 'machine', name='attempt_status', native_enum=False, length=32), nullable=False),
    sa.Column('skip_reason', sa.String(length=32), nullable=False),
    sa.Column('channel_id', sa.String(length=64), nullable=True),
    sa.Column('key_pressed', sa.String(length=1), nullable=True),
    sa.Column('planned_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('not_before', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('duration_seconds', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name='fk_campaign_attempts_campaign'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name='fk_campaign_attempts_customer'),
    sa.ForeignKeyConstraint(['policy_id'], ['policies.id'], name='fk_campaign_attempts_policy'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('campaign_id', 'policy_id', 'cycle', 'attempt_no', name='uq_campaign_attempts_key'),
    sa.UniqueConstraint('channel_id')
    )
    with op.batch_alter_table('campaign_attempts', schema=None) as batch_op:
        batch_op.create_index('ix_campaign_attempts_campaign_status', ['campaign_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_campaign_attempts_number'), ['number'], unique=False)
        batch_op.create_index('ix_campaign_attempts_policy_cycle', ['policy_id', 'cycle'], unique=False)

    op.create_table('payment_reconciliation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('policy_id', sa.Integer(), nullable=False),
    sa.Column('cycle', sa.Date(), nullable=False),
    sa.Column('attempt_id', sa.Integer(), nullable=True),
    sa.Column('reported_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['attempt_id'], ['campaign_attempts.id'], name='fk_payment_reconciliation_attempt'),
    sa.ForeignKeyConstraint(['policy_id'], ['policies.id'], name='fk_payment_reconciliation_policy'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('policy_id', 'cycle', name='uq_payment_reconciliation_policy_cycle')
    )


def downgrade() -> None:
    op.drop_table('payment_reconciliation')
    with op.batch_alter_table('campaign_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_campaign_attempts_policy_cycle')
        batch_op.drop_index(batch_op.f('ix_campaign_attempts_number'))
        batch_op.drop_index('ix_campaign_attempts_campaign_status')

    op.drop_table('campaign_attempts')
    with op.batch_alter_table('do_not_call', schema=None) as batch_op:
        batch_op.drop_index('ix_do_not_call_number_until')
        batch_op.drop_index(batch_op.f('ix_do_not_call_customer_id'))

    op.drop_table('do_not_call')
    op.drop_table('campaigns')
