"""agent console: wrap-up on the call record; callback requests worked by agents

Calls get the agent's wrap-up (code, note, who, when). Callback requests get
a workflow: open -> in_progress (assigned_to, claimed_at) -> done / failed
(attempts, outcome_note, closed_at). "At most one per number" now covers
requests in progress too, so a caller who asks again while an agent is
calling them back merges into that request.

Downgrade: requests in progress go back to open and failed ones become
cancelled (the statuses 0004 knows), then the columns go.

Revision ID: 0005_wrapup_callbacks
Revises: 0004_console_users
Create Date: 2026-11-24 12:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0005_wrapup_callbacks'
down_revision = '0004_console_users'
branch_labels = None
depends_on = None

OPEN_ONLY = "status = 'open'"
OUTSTANDING = "status IN ('open', 'in_progress')"


def upgrade() -> None:
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('wrapup_code', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('wrapup_note', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('wrapup_by', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('wrapup_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key('fk_calls_wrapup_by', 'console_users', ['wrapup_by'], ['id'])

    with op.batch_alter_table('callback_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('assigned_to', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('outcome_note', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key('fk_callback_requests_assigned_to', 'console_users', ['assigned_to'], ['id'])
        batch_op.create_index('ix_callback_requests_status_created_at', ['status', 'created_at'], unique=False)
        batch_op.drop_index('uq_callback_requests_open_number', sqlite_where=sa.text(OPEN_ONLY),
                            postgresql_where=sa.text(OPEN_ONLY))
        batch_op.create_index('uq_callback_requests_open_number', ['number'], unique=True,
                              sqlite_where=sa.text(OUTSTANDING), postgresql_where=sa.text(OUTSTANDING))


def downgrade() -> None:
    op.execute("UPDATE callback_requests SET status = 'open' WHERE status = 'in_progress'")
    op.execute("UPDATE callback_requests SET status = 'cancelled' WHERE status = 'failed'")
    with op.batch_alter_table('callback_requests', schema=None) as batch_op:
        batch_op.drop_index('uq_callback_requests_open_number', sqlite_where=sa.text(OUTSTANDING),
                            postgresql_where=sa.text(OUTSTANDING))
        batch_op.create_index('uq_callback_requests_open_number', ['number'], unique=True,
                              sqlite_where=sa.text(OPEN_ONLY), postgresql_where=sa.text(OPEN_ONLY))
        batch_op.drop_index('ix_callback_requests_status_created_at')
        batch_op.drop_constraint('fk_callback_requests_assigned_to', type_='foreignkey')
        batch_op.drop_column('closed_at')
        batch_op.drop_column('outcome_note')
        batch_op.drop_column('attempts')
        batch_op.drop_column('claimed_at')
        batch_op.drop_column('assigned_to')

    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_constraint('fk_calls_wrapup_by', type_='foreignkey')
        batch_op.drop_column('wrapup_at')
        batch_op.drop_column('wrapup_by')
        batch_op.drop_column('wrapup_note')
        batch_op.drop_column('wrapup_code')
