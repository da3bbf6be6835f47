"""push deliveries keep the last Retry-After FCM asked for

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 10:40:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('push_deliveries', sa.Column('retry_after_seconds', sa.Integer(), nullable=True))


def downgrade():
    op.drop_column('push_deliveries', 'retry_after_seconds')
