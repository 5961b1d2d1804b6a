"""dispatch: mailbox inbound cursors and an index for the per-mailbox send caps

Revision ID: 0002_dispatch
Revises: 0001
Create Date: 2026-11-23 18:30:00
"""
from alembic import op
import sqlalchemy as sa
import server.models


revision = '0002_dispatch'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('mailboxes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('inbound_cursor', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('inbound_polled_at', server.models.UtcDateTime(timezone=True), nullable=True))
    with op.batch_alter_table('emails', schema=None) as batch_op:
        batch_op.create_index('ix_emails_mailbox_sent', ['mailbox_id', 'sent_at'], unique=False)
        batch_op.create_index('ix_emails_status_claimed', ['status', 'claimed_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('emails', schema=None) as batch_op:
        batch_op.drop_index('ix_emails_status_claimed')
        batch_op.drop_index('ix_emails_mailbox_sent')
    with op.batch_alter_table('mailboxes', schema=None) as batch_op:
        batch_op.drop_column('inbound_polled_at')
        batch_op.drop_column('inbound_cursor')
