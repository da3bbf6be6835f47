"""sharing

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 18:34:51.817762

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('report_links',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('patient_id', sa.Uuid(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=80), nullable=True),
    sa.Column('scopes', sa.JSON(), nullable=False),
    sa.Column('range_start', sa.DateTime(timezone=True), nullable=True),
    sa.Column('range_end', sa.DateTime(timezone=True), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_viewed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['patient_id'], ['users.id'], name=op.f('fk_report_links_patient_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_links')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_report_links_token_hash'))
    )
    with op.batch_alter_table('report_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_links_patient_id'), ['patient_id'], unique=False)

    op.create_table('shares',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('patient_id', sa.Uuid(), nullable=False),
    sa.Column('viewer_id', sa.Uuid(), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('scopes', sa.JSON(), nullable=False),
    sa.Column('alerts', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_by', sa.String(length=16), nullable=True),
    sa.ForeignKeyConstraint(['patient_id'], ['users.id'], name=op.f('fk_shares_patient_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['viewer_id'], ['users.id'], name=op.f('fk_shares_viewer_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shares'))
    )
    with op.batch_alter_table('shares', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shares_patient_id'), ['patient_id'], unique=False)
        batch_op.create_index('ix_shares_viewer', ['viewer_id', 'patient_id'], unique=False)

    op.create_table('access_log',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('patient_id', sa.Uuid(), nullable=False),
    sa.Column('viewer_id', sa.Uuid(), nullable=True),
    sa.Column('report_link_id', sa.Uuid(), nullable=True),
    sa.Column('viewer_label', sa.String(length=120), nullable=False),
    sa.Column('data_kind', sa.String(length=32), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ip_address', sa.String(length=64), nullable=True),
    sa.Column('user_agent', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['patient_id'], ['users.id'], name=op.f('fk_access_log_patient_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['report_link_id'], ['report_links.id'], name=op.f('fk_access_log_report_link_id_report_links'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['viewer_id'], ['users.id'], name=op.f('fk_access_log_viewer_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_access_log'))
    )
    with op.batch_alter_table('access_log', schema=None) as batch_op:
        batch_op.create_index('ix_access_log_patient_at', ['patient_id', 'at'], unique=False)
        batch_op.create_index(batch_op.f('ix_access_log_report_link_id'), ['report_link_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_access_log_viewer_id'), ['viewer_id'], unique=False)

    op.create_table('share_invites',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('patient_id', sa.Uuid(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('scopes', sa.JSON(), nullable=False),
    sa.Column('alerts', sa.Boolean(), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('share_id', sa.Uuid(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['users.id'], name=op.f('fk_share_invites_patient_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['share_id'], ['shares.id'], name=op.f('fk_share_invites_share_id_shares'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_share_invites')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_share_invites_code_hash'))
    )
    with op.batch_alter_table('share_invites', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_share_invites_patient_id'), ['patient_id'], unique=False)



def downgrade():
    with op.batch_alter_table('share_invites', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_share_invites_patient_id'))

    op.drop_table('share_invites')
    with op.batch_alter_table('access_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_access_log_viewer_id'))
        batch_op.drop_index(batch_op.f('ix_access_log_report_link_id'))
        batch_op.drop_index('ix_access_log_patient_at')

    op.drop_table('access_log')
    with op.batch_alter_table('shares', schema=None) as batch_op:
        batch_op.drop_index('ix_shares_viewer')
        batch_op.drop_index(batch_op.f('ix_shares_patient_id'))

    op.drop_table('shares')
    with op.batch_alter_table('report_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_links_patient_id'))

    op.drop_table('report_links')
