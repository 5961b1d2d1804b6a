"""engagement: tracked links of sent emails, an events index for stats, the CRM outbox

Revision ID: 0003_engagement
Revises: 0002_dispatch
Create Date: 2026-11-23 18:45:00
"""
from alembic import op
import sqlalchemy as sa
import server.models


revision = '0003_engagement'
down_revision = '0002_dispatch'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('emails', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tracked_links', sa.JSON(), nullable=True))
    op.create_index('ix_events_campaign_type', 'events', ['campaign_id', 'type'], unique=False)
    op.create_table(
        'crm_outbox',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=30), nullable=False),
        sa.Column('payload', sa.JSON(), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', server.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('created_at', server.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column('done_at', server.models.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_crm_outbox')),
    )
    op.create_index('ix_crm_outbox_status_next', 'crm_outbox', ['status', 'next_attempt_at'], unique=False)
    op.create_table(
        'crm_records',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('local_kind', sa.String(length=10), nullable=False),
        sa.Column('local_id', sa.Integer(), nullable=False),
        sa.Column('remote_id', sa.String(length=40), nullable=True),
        sa.Column('local_status', sa.String(length=20), nullable=True),
        sa.Column('remote_status', sa.String(length=40), nullable=True),
        sa.Column('created_at', server.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column('synced_at', server.models.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_crm_records')),
        sa.UniqueConstraint('local_kind', 'local_id', name=op.f('uq_crm_records_local_kind')),
    )
    op.create_index(op.f('ix_crm_records_remote_id'), 'crm_records', ['remote_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_crm_records_remote_id'), table_name='crm_records')
    op.drop_table('crm_records')
    op.drop_index('ix_crm_outbox_status_next', table_name='crm_outbox')
    op.drop_table('crm_outbox')
    op.drop_index('ix_events_campaign_type', table_name='events')
    with op.batch_alter_table('emails', schema=None) as batch_op:
        batch_op.drop_column('tracked_links')
