"""routing: callback requests, at most one open per number

Revision ID: 0003_callback_requests
Revises: 0002_self_service
Create Date: 2026-11-22 12:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0003_callback_requests'
down_revision = '0002_self_service'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('callback_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=64), nullable=False),
    sa.Column('status', sa.Enum('open', 'done', 'cancelled', name='callback_status', native_enum=False, length=32), nullable=False),
    sa.Column('request_count', sa.Integer(), nullable=False),
    sa.Column('call_unique_id', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('callback_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_callback_requests_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_callback_requests_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index('uq_callback_requests_open_number', ['number'], unique=True, sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'"))


def downgrade() -> None:
    with op.batch_alter_table('callback_requests', schema=None) as batch_op:
        batch_op.drop_index('uq_callback_requests_open_number', sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'"))
        batch_op.drop_index(batch_op.f('ix_callback_requests_customer_id'))
        batch_op.drop_index(batch_op.f('ix_callback_requests_created_at'))
    op.drop_table('callback_requests')
