"""contact imports

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 13:23:20.476039

"""
from alembic import op
import sqlalchemy as sa

import dashboard.models.types


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    
    op.create_table('contact_import',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('list_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('uploaded_by', sa.String(length=254), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('stored_name', sa.String(length=80), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('header', sa.JSON(), nullable=False),
    sa.Column('has_header', sa.Boolean(), nullable=False),
    sa.Column('mapping', sa.JSON(), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('evidence', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('offset', sa.Integer(), nullable=False),
    sa.Column('line', sa.Integer(), nullable=False),
    sa.Column('rows_read', sa.Integer(), nullable=False),
    sa.Column('imported', sa.Integer(), nullable=False),
    sa.Column('unchanged', sa.Integer(), nullable=False),
    sa.Column('rejected', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', dashboard.models.types.UTCDateTime(), nullable=False),
    sa.Column('started_at', dashboard.models.types.UTCDateTime(), nullable=True),
    sa.Column('finished_at', dashboard.models.types.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['list_id'], ['contact_list.id'], name=op.f('fk_contact_import_list_id_contact_list'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_contact_import_user_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contact_import'))
    )
    with op.batch_alter_table('contact_import', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contact_import_list_id'), ['list_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_contact_import_sha256'), ['sha256'], unique=False)
        batch_op.create_index(batch_op.f('ix_contact_import_status'), ['status'], unique=False)

    op.create_table('import_issue',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('import_id', sa.Integer(), nullable=False),
    sa.Column('line', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=300), nullable=False),
    sa.Column('raw', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['import_id'], ['contact_import.id'], name=op.f('fk_import_issue_import_id_contact_import'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_issue'))
    )
    with op.batch_alter_table('import_issue', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_import_issue_import_id'), ['import_id'], unique=False)

    op.create_table('imported_number',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('import_id', sa.Integer(), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('line', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['import_id'], ['contact_import.id'], name=op.f('fk_imported_number_import_id_contact_import'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_imported_number')),
    sa.UniqueConstraint('import_id', 'phone', name=op.f('uq_imported_number_import_id_phone'))
    )
    


def downgrade():
    
    op.drop_table('imported_number')
    with op.batch_alter_table('import_issue', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_import_issue_import_id'))

    op.drop_table('import_issue')
    with op.batch_alter_table('contact_import', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contact_import_status'))
        batch_op.drop_index(batch_op.f('ix_contact_import_sha256'))
        batch_op.drop_index(batch_op.f('ix_contact_import_list_id'))

    op.drop_table('contact_import')
    
