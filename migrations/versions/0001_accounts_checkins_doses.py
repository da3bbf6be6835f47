"""accounts, check-ins and doses

Revision ID: 0001
Revises: 
Create Date: 2026-11-25 17:56:24.584557

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('users',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('firebase_uid', sa.String(length=128), nullable=False),
    sa.Column('display_name', sa.String(length=80), nullable=True),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('quiet_hours_start', sa.Time(), nullable=True),
    sa.Column('quiet_hours_end', sa.Time(), nullable=True),
    sa.Column('notification_privacy', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('firebase_uid', name=op.f('uq_users_firebase_uid'))
    )
    op.create_table('checkins',
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('pain', sa.SmallInteger(), nullable=True),
    sa.Column('enjoyment_interference', sa.SmallInteger(), nullable=True),
    sa.Column('activity_interference', sa.SmallInteger(), nullable=True),
    sa.Column('focus', sa.SmallInteger(), nullable=True),
    sa.Column('hyperactivity', sa.SmallInteger(), nullable=True),
    sa.Column('impulsivity', sa.SmallInteger(), nullable=True),
    sa.Column('restlessness', sa.SmallInteger(), nullable=True),
    sa.Column('mood', sa.SmallInteger(), nullable=True),
    sa.Column('sleep_hours', sa.Float(), nullable=True),
    sa.Column('sleep_quality', sa.SmallInteger(), nullable=True),
    sa.Column('phq2_interest', sa.SmallInteger(), nullable=True),
    sa.Column('phq2_mood', sa.SmallInteger(), nullable=True),
    sa.Column('gad2_nervous', sa.SmallInteger(), nullable=True),
    sa.Column('gad2_worry', sa.SmallInteger(), nullable=True),
    sa.Column('side_effects', sa.JSON(), nullable=False),
    sa.Column('withdrawal_symptoms', sa.JSON(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_checkins_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_checkins'))
    )
    with op.batch_alter_table('checkins', schema=None) as batch_op:
        batch_op.create_index('ix_checkins_user_recorded', ['user_id', 'recorded_at', 'id'], unique=False)

    op.create_table('devices',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('token', sa.String(length=1024), nullable=False),
    sa.Column('platform', sa.String(length=16), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('deactivated_reason', sa.String(length=64), nullable=True),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_devices_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_devices')),
    sa.UniqueConstraint('token', name=op.f('uq_devices_token'))
    )
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_devices_user_id'), ['user_id'], unique=False)

    op.create_table('doses',
    sa.Column('taken_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('substance_kind', sa.String(length=32), nullable=False),
    sa.Column('form', sa.String(length=32), nullable=True),
    sa.Column('product', sa.String(length=120), nullable=True),
    sa.Column('amount', sa.Float(), nullable=False),
    sa.Column('unit', sa.String(length=16), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_doses_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_doses'))
    )
    with op.batch_alter_table('doses', schema=None) as batch_op:
        batch_op.create_index('ix_doses_user_taken', ['user_id', 'taken_at', 'id'], unique=False)



def downgrade():
    with op.batch_alter_table('doses', schema=None) as batch_op:
        batch_op.drop_index('ix_doses_user_taken')

    op.drop_table('doses')
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_devices_user_id'))

    op.drop_table('devices')
    with op.batch_alter_table('checkins', schema=None) as batch_op:
        batch_op.drop_index('ix_checkins_user_recorded')

    op.drop_table('checkins')
    op.drop_table('users')
