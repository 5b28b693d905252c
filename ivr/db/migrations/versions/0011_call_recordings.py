"""call recordings: the catalogue (files, hashes, retention, legal hold), recording pauses, transcript turns

Revision ID: 0011_call_recordings
Revises: 0010_customer_time_zone
Create Date: 2026-12-04 15:21:07.429793
"""
from alembic import op
import sqlalchemy as sa


revision = '0011_call_recordings'
down_revision = '0010_customer_time_zone'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('call_recordings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unique_id', sa.String(length=64), nullable=False),
    sa.Column('base_path', sa.String(length=255), nullable=False),
    sa.Column('direction', sa.String(length=16), nullable=False),
    sa.Column('call_type', sa.String(length=16), nullable=False),
    sa.Column('status', sa.Enum('recording', 'complete', 'unfinished', 'purged', name='recording_status', native_enum=False, length=32), nullable=False),
    sa.Column('call_id', sa.Integer(), nullable=True),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('queue', sa.String(length=64), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('policy_id', sa.Integer(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('duration_seconds', sa.Float(), nullable=True),
    sa.Column('format', sa.String(length=16), nullable=False),
    sa.Column('caller_bytes', sa.Integer(), nullable=False),
    sa.Column('agent_bytes', sa.Integer(), nullable=False),
    sa.Column('caller_sha256', sa.String(length=64), nullable=False),
    sa.Column('agent_sha256', sa.String(length=64), nullable=False),
    sa.Column('last_seen_bytes', sa.Integer(), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('retain_until', sa.Date(), nullable=True),
    sa.Column('legal_hold', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('purged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('transcription_status', sa.Enum('waiting', 'pending', 'running', 'done', 'failed', name='transcription_status', native_enum=False, length=32), nullable=False),
    sa.Column('transcription_error', sa.Text(), nullable=False),
    sa.Column('transcribed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('analytics', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['console_users.id'], name='fk_call_recordings_agent'),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name='fk_call_recordings_call'),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name='fk_call_recordings_campaign'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name='fk_call_recordings_customer'),
    sa.ForeignKeyConstraint(['policy_id'], ['policies.id'], name='fk_call_recordings_policy'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('unique_id')
    )
    with op.batch_alter_table('call_recordings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_call_recordings_agent_id'), ['agent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_call_recordings_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_call_recordings_retain_until'), ['retain_until'], unique=False)
        batch_op.create_index('ix_call_recordings_started_at', ['started_at'], unique=False)
        batch_op.create_index('ix_call_recordings_transcription', ['transcription_status'], unique=False)

    op.create_table('recording_pauses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recording_id', sa.Integer(), nullable=True),
    sa.Column('unique_id', sa.String(length=64), nullable=False),
    sa.Column('paused_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resumed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('by_user_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['by_user_id'], ['console_users.id'], name='fk_recording_pauses_user'),
    sa.ForeignKeyConstraint(['recording_id'], ['call_recordings.id'], name='fk_recording_pauses_recording'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('recording_pauses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recording_pauses_recording_id'), ['recording_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_recording_pauses_unique_id'), ['unique_id'], unique=False)

    op.create_table('transcript_turns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recording_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('speaker', sa.String(length=16), nullable=False),
    sa.Column('start_seconds', sa.Float(), nullable=False),
    sa.Column('end_seconds', sa.Float(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('words', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['recording_id'], ['call_recordings.id'], name='fk_transcript_turns_recording'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('recording_id', 'seq')
    )


def downgrade() -> None:
    op.drop_table('transcript_turns')
    with op.batch_alter_table('recording_pauses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recording_pauses_unique_id'))
        batch_op.drop_index(batch_op.f('ix_recording_pauses_recording_id'))

    op.drop_table('recording_pauses')
    with op.batch_alter_table('call_recordings', schema=None) as batch_op:
        batch_op.drop_index('ix_call_recordings_transcription')
        batch_op.drop_index('ix_call_recordings_started_at')
        batch_op.drop_index(batch_op.f('ix_call_recordings_retain_until'))
        batch_op.drop_index(batch_op.f('ix_call_recordings_customer_id'))
        batch_op.drop_index(batch_op.f('ix_call_recordings_agent_id'))

    op.drop_table('call_recordings')
