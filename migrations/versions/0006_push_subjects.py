"""push deliveries name their subject by purpose and id

A delivery held a foreign key into reminder occurrences or into prompts; it now names what it is
about by purpose and subject id (a snooze is a new round of its reminder), and whose data that is.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 05:30:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('push_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('subject_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('round', sa.SmallInteger(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('about_user_id', sa.Uuid(), nullable=True))
        # Before "snooze-<n>" becomes "reminder": under the old key, those rows would collide.
        batch_op.drop_constraint('uq_push_deliveries_target', type_='unique')
        batch_op.drop_constraint('uq_push_deliveries_prompt_target', type_='unique')

    deliveries = sa.table('push_deliveries', sa.column('occurrence_id', sa.Uuid()), sa.column('prompt_id', sa.Uuid()),
                          sa.column('subject_id', sa.Uuid()), sa.column('about_user_id', sa.Uuid()),
                          sa.column('purpose', sa.String()), sa.column('round', sa.SmallInteger()))
    occurrences = sa.table('reminder_occurrences', sa.column('id', sa.Uuid()), sa.column('user_id', sa.Uuid()))
    prompts = sa.table('prompts', sa.column('id', sa.Uuid()), sa.column('user_id', sa.Uuid()))
    op.execute(deliveries.update().values(
        subject_id=sa.func.coalesce(deliveries.c.occurrence_id, deliveries.c.prompt_id),
        about_user_id=sa.func.coalesce(
            sa.select(occurrences.c.user_id).where(occurrences.c.id == deliveries.c.occurrence_id).scalar_subquery(),
            sa.select(prompts.c.user_id).where(prompts.c.id == deliveries.c.prompt_id).scalar_subquery())))
    # "snooze-<n>" was a purpose of its own: it is round n of the reminder.
    op.execute(deliveries.update().where(deliveries.c.purpose.like('snooze-%')).values(
        round=sa.cast(sa.func.substr(deliveries.c.purpose, 8), sa.SmallInteger), purpose='reminder'))

    with op.batch_alter_table('push_deliveries', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_push_deliveries_occurrence_id_reminder_occurrences'),
                                 type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_push_deliveries_prompt_id_prompts'), type_='foreignkey')
        batch_op.drop_column('occurrence_id')
        batch_op.drop_column('prompt_id')
        batch_op.alter_column('subject_id', existing_type=sa.Uuid(), nullable=False)
        batch_op.alter_column('about_user_id', existing_type=sa.Uuid(), nullable=False)
        batch_op.alter_column('round', existing_type=sa.SmallInteger(), server_default=None)
        batch_op.create_unique_constraint('uq_push_deliveries_subject', ['subject_id', 'purpose', 'round', 'device_id'])
        batch_op.create_foreign_key(batch_op.f('fk_push_deliveries_about_user_id_users'), 'users',
                                    ['about_user_id'], ['id'], ondelete='CASCADE')
        batch_op.create_index(batch_op.f('ix_push_deliveries_about_user_id'), ['about_user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('push_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('occurrence_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('prompt_id', sa.Uuid(), nullable=True))

    deliveries = sa.table('push_deliveries', sa.column('occurrence_id', sa.Uuid()), sa.column('prompt_id', sa.Uuid()),
                          sa.column('subject_id', sa.Uuid()), sa.column('purpose', sa.String()),
                          sa.column('round', sa.SmallInteger()))
    op.execute(deliveries.update().where(deliveries.c.purpose.in_(('reminder', 'follow_up')))
               .values(occurrence_id=deliveries.c.subject_id))
    op.execute(deliveries.update().where(deliveries.c.purpose.in_(('prompt', 'alert')))
               .values(prompt_id=deliveries.c.subject_id))
    op.execute(deliveries.update().where(deliveries.c.round > 0).values(
        purpose=sa.literal('snooze-') + sa.cast(deliveries.c.round, sa.String)))

    with op.batch_alter_table('push_deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_push_deliveries_about_user_id'))
        batch_op.drop_constraint(batch_op.f('fk_push_deliveries_about_user_id_users'), type_='foreignkey')
        batch_op.drop_constraint('uq_push_deliveries_subject', type_='unique')
        batch_op.drop_column('about_user_id')
        batch_op.drop_column('round')
        batch_op.drop_column('subject_id')
        batch_op.create_foreign_key(batch_op.f('fk_push_deliveries_occurrence_id_reminder_occurrences'),
                                    'reminder_occurrences', ['occurrence_id'], ['id'], ondelete='CASCADE')
        batch_op.create_foreign_key(batch_op.f('fk_push_deliveries_prompt_id_prompts'), 'prompts',
                                    ['prompt_id'], ['id'], ondelete='CASCADE')
        batch_op.create_unique_constraint('uq_push_deliveries_target', ['occurrence_id', 'device_id', 'purpose'])
        batch_op.create_unique_constraint('uq_push_deliveries_prompt_target', ['prompt_id', 'device_id', 'purpose'])
