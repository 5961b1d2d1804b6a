"""sign-in failures: failed web sign-ins per account and per client IP, for the rate limit

Revision ID: 0005_sign_in_failures
Revises: 0004_salesforce_owner
Create Date: 2026-11-25 09:00:00
"""
from alembic import op
import sqlalchemy as sa
import server.models


revision = '0005_sign_in_failures'
down_revision = '0004_salesforce_owner'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'sign_in_failures',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('at', server.models.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sign_in_failures')),
    )
    op.create_index('ix_sign_in_failures_key_at', 'sign_in_failures', ['key', 'at'], unique=False)
    op.create_index(op.f('ix_sign_in_failures_at'), 'sign_in_failures', ['at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_sign_in_failures_at'), table_name='sign_in_failures')
    op.drop_index('ix_sign_in_failures_key_at', table_name='sign_in_failures')
    op.drop_table('sign_in_failures')
