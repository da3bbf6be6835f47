"""change numbers for sync: a counter per person, and the number each synced row was last changed under

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 09:40:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

# Rows written before this revision carry 0: a first pull (everything live) includes them.
SYNCED = {'checkins': 'ix_checkins_user_sync', 'doses': 'ix_doses_user_sync',
          'reminder_schedules': 'ix_reminder_schedules_user_sync', 'prompts': 'ix_prompts_user_sync'}


def upgrade():
    op.create_table(
        'sync_counters',
        sa.Column('user_id', sa.Uuid(), nullable=False),
        sa.Column('seq', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('user_id'),
    )
    # Plain ALTER TABLE, never SQLite's batch "copy and move": dropping a parent table to rebuild it
    # would cascade-delete its children (reminder occurrences) under PRAGMA foreign_keys=ON.
    for table, index in SYNCED.items():
        op.add_column(table, sa.Column('sync_seq', sa.BigInteger(), server_default='0', nullable=False))
        op.create_index(index, table, ['user_id', 'sync_seq'], unique=False)


def downgrade():
    for table, index in SYNCED.items():
        op.drop_index(index, table_name=table)
        op.drop_column(table, 'sync_seq')  # SQLite ≥ 3.35 drops a column in place
    op.drop_table('sync_counters')
