"""salesforce owner: the rep's Salesforce User id (owner of synced Tasks) and when it was looked up

Revision ID: 0004_salesforce_owner
Revises: 0003_engagement
Create Date: 2026-11-24 10:00:00
"""
from alembic import op
import sqlalchemy as sa
import server.models


revision = '0004_salesforce_owner'
down_revision = '0003_engagement'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('salesforce_user_id', sa.String(length=18), nullable=True))
        batch_op.add_column(sa.Column('salesforce_user_checked_at', server.models.UtcDateTime(timezone=True),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('salesforce_user_checked_at')
        batch_op.drop_column('salesforce_user_id')
