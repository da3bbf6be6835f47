"""indexes the retention job deletes by: handled events, finished push deliveries, old reminder
occurrences and old access-log entries, each by its instant

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 10:20:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_events_processed', 'events', ['processed_at'], unique=False,
                    postgresql_where=sa.text('processed_at IS NOT NULL'),
                    sqlite_where=sa.text('processed_at IS NOT NULL'))
    op.create_index('ix_push_deliveries_created', 'push_deliveries', ['created_at'], unique=False)
    op.create_index('ix_reminder_occurrences_due', 'reminder_occurrences', ['due_at'], unique=False)
    op.create_index('ix_access_log_at', 'access_log', ['at'], unique=False)


def downgrade():
    op.drop_index('ix_access_log_at', table_name='access_log')
    op.drop_index('ix_reminder_occurrences_due', table_name='reminder_occurrences')
    op.drop_index('ix_push_deliveries_created', table_name='push_deliveries')
    op.drop_index('ix_events_processed', table_name='events')
