"""the daily pain item, withdrawal severities, and whether caregiver alerts name the person

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 10:05:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ALTER TABLE (see 0007): no SQLite table rebuild that would cascade into children.
    op.add_column('checkins', sa.Column('pain_today', sa.SmallInteger(), nullable=True))
    op.add_column('checkins', sa.Column('withdrawal_severity', sa.JSON(), server_default='{}', nullable=False))
    op.add_column('users', sa.Column('name_in_caregiver_alerts', sa.Boolean(), server_default=sa.false(),
                                     nullable=False))


def downgrade():
    op.drop_column('users', 'name_in_caregiver_alerts')
    op.drop_column('checkins', 'withdrawal_severity')
    op.drop_column('checkins', 'pain_today')
