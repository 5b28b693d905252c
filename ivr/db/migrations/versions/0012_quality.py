"""quality: script adherence and keyword flags on recordings, the recording access log, QA evaluations;
indexes for the KPIs (repeat contacts by customer, complaints by call)

Revision ID: 0012_quality
Revises: 0011_call_recordings
Create Date: 2026-12-04 19:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0012_quality'
down_revision = '0011_call_recordings'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_queue_calls_customer_joined_at', 'queue_calls', ['customer_id', 'joined_at'])
    op.create_index('ix_complaints_call_unique_id', 'complaints', ['call_unique_id'])
    with op.batch_alter_table('call_recordings') as batch:
        batch.add_column(sa.Column('script_adherence', sa.Float(), nullable=True))
        batch.add_column(sa.Column('flags', sa.String(length=200), server_default='', nullable=False))
        batch.create_index('ix_call_recordings_script_adherence', ['script_adherence'])
    op.create_table('recording_access',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recording_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['recording_id'], ['call_recordings.id'], name='fk_recording_access_recording'),
    sa.ForeignKeyConstraint(['user_id'], ['console_users.id'], name='fk_recording_access_user'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_recording_access_at', 'recording_access', ['at'])
    op.create_index('ix_recording_access_recording_id', 'recording_access', ['recording_id'])
    op.create_table('qa_evaluations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recording_id', sa.Integer(), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('evaluator_id', sa.Integer(), nullable=False),
    sa.Column('form', sa.String(length=64), nullable=False),
    sa.Column('scores', sa.Text(), nullable=False),
    sa.Column('total', sa.Float(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['console_users.id'], name='fk_qa_evaluations_agent'),
    sa.ForeignKeyConstraint(['evaluator_id'], ['console_users.id'], name='fk_qa_evaluations_evaluator'),
    sa.ForeignKeyConstraint(['recording_id'], ['call_recordings.id'], name='fk_qa_evaluations_recording'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_qa_evaluations_agent_id', 'qa_evaluations', ['agent_id'])
    op.create_index('ix_qa_evaluations_recording_id', 'qa_evaluations', ['recording_id'])


def downgrade() -> None:
    op.drop_index('ix_complaints_call_unique_id', table_name='complaints')
    op.drop_index('ix_queue_calls_customer_joined_at', table_name='queue_calls')
    op.drop_table('qa_evaluations')
    op.drop_table('recording_access')
    with op.batch_alter_table('call_recordings') as batch:
        batch.drop_index('ix_call_recordings_script_adherence')
        batch.drop_column('flags')
        batch.drop_column('script_adherence')
