"""agent console: agents' queue states, queue calls, screen pops, customers' advisor

agent_state_changes is append-only (online and pause time are computed from
it); queue_calls keeps each caller's wait in a queue and how it ended, from
Asterisk's queue events; screen_pops is what each agent's console showed;
customers.advisor_id names the call-centre agent offered first.

Revision ID: 0006_agent_states
Revises: 0005_wrapup_callbacks
Create Date: 2026-11-22 02:21:51
"""
from alembic import op
import sqlalchemy as sa


revision = '0006_agent_states'
down_revision = '0005_wrapup_callbacks'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('agent_state_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('state', sa.Enum('logged_out', 'available', 'paused', name='agent_state', native_enum=False, length=32), nullable=False),
    sa.Column('reason', sa.String(length=64), nullable=False),
    sa.Column('queues', sa.String(length=200), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['console_users.id'], name='fk_agent_state_changes_user'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('agent_state_changes', schema=None) as batch_op:
        batch_op.create_index('ix_agent_state_changes_user_at', ['user_id', 'at'], unique=False)

    op.create_table('queue_calls',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unique_id', sa.String(length=64), nullable=False),
    sa.Column('queue', sa.String(length=64), nullable=False),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('joined_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('outcome', sa.Enum('waiting', 'answered', 'abandoned', 'lost', name='queue_outcome', native_enum=False, length=32), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('left_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('wait_seconds', sa.Integer(), nullable=True),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('agent_interface', sa.String(length=80), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['console_users.id'], name='fk_queue_calls_agent'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name='fk_queue_calls_customer'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('unique_id')
    )
    with op.batch_alter_table('queue_calls', schema=None) as batch_op:
        batch_op.create_index('ix_queue_calls_joined_at', ['joined_at'], unique=False)
        batch_op.create_index('ix_queue_calls_number_answered_at', ['number', 'answered_at'], unique=False)

    op.create_table('screen_pops',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('call_unique_id', sa.String(length=64), nullable=False),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('queue', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['console_users.id'], name='fk_screen_pops_user'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('user_id', 'call_unique_id', name='uq_screen_pops_user_call')
    )
    with op.batch_alter_table('screen_pops', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_screen_pops_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('advisor_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_customers_advisor', 'console_users', ['advisor_id'], ['id'], use_alter=True)



def downgrade() -> None:
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_constraint('fk_customers_advisor', type_='foreignkey')
        batch_op.drop_column('advisor_id')

    with op.batch_alter_table('screen_pops', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_screen_pops_user_id'))

    op.drop_table('screen_pops')
    with op.batch_alter_table('queue_calls', schema=None) as batch_op:
        batch_op.drop_index('ix_queue_calls_number_answered_at')
        batch_op.drop_index('ix_queue_calls_joined_at')

    op.drop_table('queue_calls')
    with op.batch_alter_table('agent_state_changes', schema=None) as batch_op:
        batch_op.drop_index('ix_agent_state_changes_user_at')

    op.drop_table('agent_state_changes')
