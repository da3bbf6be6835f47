"""monitoring

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 18:45:23.146813

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=48), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.SmallInteger(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.String(length=255), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_events_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_events'))
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_pending', ['user_id', 'id'], unique=False, postgresql_where=sa.text('processed_at IS NULL'), sqlite_where=sa.text('processed_at IS NULL'))

    op.create_table('plans',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('settings', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_plans_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_plans'))
    )
    op.create_table('prompts',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('rule', sa.String(length=32), nullable=False),
    sa.Column('subject', sa.String(length=32), nullable=False),
    sa.Column('severity', sa.String(length=8), nullable=False),
    sa.Column('dedupe_key', sa.String(length=160), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('push_status', sa.String(length=8), nullable=False),
    sa.Column('push_after', sa.DateTime(timezone=True), nullable=False),
    sa.Column('alert_caregivers', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_prompts_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prompts')),
    sa.UniqueConstraint('user_id', 'dedupe_key', name='uq_prompts_user_dedupe')
    )
    with op.batch_alter_table('prompts', schema=None) as batch_op:
        batch_op.create_index('ix_prompts_push_pending', ['push_after'], unique=False, postgresql_where=sa.text("push_status = 'pending'"), sqlite_where=sa.text("push_status = 'pending'"))
        batch_op.create_index('ix_prompts_rule_subject', ['user_id', 'rule', 'subject', 'created_at'], unique=False)
        batch_op.create_index('ix_prompts_user_created', ['user_id', 'created_at'], unique=False)

    with op.batch_alter_table('push_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('prompt_id', sa.Uuid(), nullable=True))
        batch_op.alter_column('occurrence_id',
               existing_type=sa.CHAR(length=32),
               nullable=True)
        batch_op.create_unique_constraint('uq_push_deliveries_prompt_target', ['prompt_id', 'device_id', 'purpose'])
        batch_op.create_foreign_key(batch_op.f('fk_push_deliveries_prompt_id_prompts'), 'prompts', ['prompt_id'], ['id'], ondelete='CASCADE')



def downgrade():
    with op.batch_alter_table('push_deliveries', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_push_deliveries_prompt_id_prompts'), type_='foreignkey')
        batch_op.drop_constraint('uq_push_deliveries_prompt_target', type_='unique')
        batch_op.alter_column('occurrence_id',
               existing_type=sa.CHAR(length=32),
               nullable=False)
        batch_op.drop_column('prompt_id')

    with op.batch_alter_table('prompts', schema=None) as batch_op:
        batch_op.drop_index('ix_prompts_user_created')
        batch_op.drop_index('ix_prompts_rule_subject')
        batch_op.drop_index('ix_prompts_push_pending', postgresql_where=sa.text("push_status = 'pending'"), sqlite_where=sa.text("push_status = 'pending'"))

    op.drop_table('prompts')
    op.drop_table('plans')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_pending', postgresql_where=sa.text('processed_at IS NULL'), sqlite_where=sa.text('processed_at IS NULL'))

    op.drop_table('events')
