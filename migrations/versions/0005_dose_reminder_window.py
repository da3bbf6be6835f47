"""dose reminder window

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 18:52:58.390621

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('reminder_schedules', schema=None) as batch_op:
        batch_op.add_column(sa.Column('confirm_within_minutes', sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column('alert_caregivers', sa.Boolean(), server_default=sa.false(), nullable=False))



def downgrade():
    with op.batch_alter_table('reminder_schedules', schema=None) as batch_op:
        batch_op.drop_column('alert_caregivers')
        batch_op.drop_column('confirm_within_minutes')

