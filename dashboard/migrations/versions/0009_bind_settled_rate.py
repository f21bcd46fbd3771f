"""bind status: the rate a throttled bind settled on, and its throttling answers

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 21:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('bind_status', schema=None) as batch_op:
        batch_op.add_column(sa.Column('settled_tps', sa.Double(), nullable=True))
        batch_op.add_column(sa.Column('throttled_total', sa.Integer(), nullable=False, server_default='0'))


def downgrade():
    with op.batch_alter_table('bind_status', schema=None) as batch_op:
        batch_op.drop_column('throttled_total')
        batch_op.drop_column('settled_tps')
