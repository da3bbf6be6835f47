"""reminders, occurrences and push deliveries

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 18:16:22.600899

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('local_pushes',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('token', sa.String(length=1024), nullable=False),
    sa.Column('title', sa.String(length=255), nullable=False),
    sa.Column('body', sa.String(length=1024), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('collapse_key', sa.String(length=255), nullable=True),
    sa.Column('ttl_seconds', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_local_pushes'))
    )
    op.create_table('reminder_schedules',
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('times', sa.JSON(), nullable=False),
    sa.Column('days', sa.JSON(), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('label', sa.String(length=80), nullable=True),
    sa.Column('follow_up_minutes', sa.SmallInteger(), nullable=True),
    sa.Column('next_fire_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_reminder_schedules_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reminder_schedules'))
    )
    with op.batch_alter_table('reminder_schedules', schema=None) as batch_op:
        batch_op.create_index('ix_reminder_schedules_due', ['next_fire_at'], unique=False, postgresql_where=sa.text('active AND deleted_at IS NULL'), sqlite_where=sa.text('active AND deleted_at IS NULL'))
        batch_op.create_index('ix_reminder_schedules_user', ['user_id'], unique=False)

    op.create_table('reminder_occurrences',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('schedule_id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('local_date', sa.Date(), nullable=False),
    sa.Column('local_time', sa.String(length=5), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('send_after', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('follow_up_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('follow_up_sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('answered_by', sa.String(length=16), nullable=True),
    sa.Column('snooze_count', sa.SmallInteger(), nullable=False),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('dismissed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['schedule_id'], ['reminder_schedules.id'], name=op.f('fk_reminder_occurrences_schedule_id_reminder_schedules'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_reminder_occurrences_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reminder_occurrences')),
    sa.UniqueConstraint('schedule_id', 'local_date', 'local_time', name='uq_reminder_occurrences_schedule_local')
    )
    with op.batch_alter_table('reminder_occurrences', schema=None) as batch_op:
        batch_op.create_index('ix_reminder_occurrences_follow_up', ['follow_up_at'], unique=False, postgresql_where=sa.text("status = 'sent' AND follow_up_sent_at IS NULL"), sqlite_where=sa.text("status = 'sent' AND follow_up_sent_at IS NULL"))
        batch_op.create_index('ix_reminder_occurrences_pending', ['send_after'], unique=False, postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))
        batch_op.create_index('ix_reminder_occurrences_user_due', ['user_id', 'due_at'], unique=False)

    op.create_table('push_deliveries',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('occurrence_id', sa.Uuid(), nullable=False),
    sa.Column('device_id', sa.Uuid(), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.SmallInteger(), nullable=False),
    sa.Column('message_id', sa.String(length=255), nullable=True),
    sa.Column('error', sa.String(length=32), nullable=True),
    sa.Column('error_detail', sa.String(length=255), nullable=True),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_push_deliveries_device_id_devices'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['occurrence_id'], ['reminder_occurrences.id'], name=op.f('fk_push_deliveries_occurrence_id_reminder_occurrences'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_push_deliveries')),
    sa.UniqueConstraint('occurrence_id', 'device_id', 'purpose', name='uq_push_deliveries_target')
    )
    with op.batch_alter_table('push_deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_push_deliveries_device_id'), ['device_id'], unique=False)
        batch_op.create_index('ix_push_deliveries_retry', ['next_attempt_at'], unique=False, postgresql_where=sa.text("status = 'retry'"), sqlite_where=sa.text("status = 'retry'"))



def downgrade():
    with op.batch_alter_table('push_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_push_deliveries_retry', postgresql_where=sa.text("status = 'retry'"), sqlite_where=sa.text("status = 'retry'"))
        batch_op.drop_index(batch_op.f('ix_push_deliveries_device_id'))

    op.drop_table('push_deliveries')
    with op.batch_alter_table('reminder_occurrences', schema=None) as batch_op:
        batch_op.drop_index('ix_reminder_occurrences_user_due')
        batch_op.drop_index('ix_reminder_occurrences_pending', postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))
        batch_op.drop_index('ix_reminder_occurrences_follow_up', postgresql_where=sa.text("status = 'sent' AND follow_up_sent_at IS NULL"), sqlite_where=sa.text("status = 'sent' AND follow_up_sent_at IS NULL"))

    op.drop_table('reminder_occurrences')
    with op.batch_alter_table('reminder_schedules', schema=None) as batch_op:
        batch_op.drop_index('ix_reminder_schedules_user')
        batch_op.drop_index('ix_reminder_schedules_due', postgresql_where=sa.text('active AND deleted_at IS NULL'), sqlite_where=sa.text('active AND deleted_at IS NULL'))

    op.drop_table('reminder_schedules')
    op.drop_table('local_pushes')
