"""indexes for campaign progress and the audience: counts from the index alone; two unique
constraints renamed to the naming convention the models use

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 18:25:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    # Replaces the index on campaign_id alone, which the unique (campaign_id, contact_id) already
    # covered: the sender keeps updating as many indexes per state change as before.
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_index('ix_message_campaign_id')
        # Partial: messages outside campaigns (the API's) do not pay for it on every state change.
        in_campaign = sa.column('campaign_id').is_not(None)
        batch_op.create_index('ix_message_campaign_status', ['campaign_id', 'status', 'next_attempt_at'],
                              unique=False, sqlite_where=in_campaign, postgresql_where=in_campaign)
    # Likewise the list_id index, covered by the unique (list_id, contact_id).
    with op.batch_alter_table('list_membership', schema=None) as batch_op:
        batch_op.drop_index('ix_list_membership_list_id')
        batch_op.create_index('ix_list_membership_audience', ['list_id', 'subscribed', 'contact_id'], unique=False)
    # 0004 named these after their first column only; the models' convention names every column.
    for table, columns, old, new in _RENAMED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(old, type_='unique')
            batch_op.create_unique_constraint(new, columns)


_RENAMED = (
    ('sender_registration', ['sender_id', 'country'], 'uq_sender_registration_sender_id',
     'uq_sender_registration_sender_id_country'),
    ('brand_opt_out', ['contact_id', 'brand'], 'uq_brand_opt_out_contact_id', 'uq_brand_opt_out_contact_id_brand'),
)


def downgrade():
    for table, columns, old, new in _RENAMED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(new, type_='unique')
            batch_op.create_unique_constraint(old, columns)
    with op.batch_alter_table('list_membership', schema=None) as batch_op:
        batch_op.drop_index('ix_list_membership_audience')
        batch_op.create_index('ix_list_membership_list_id', ['list_id'], unique=False)
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_index('ix_message_campaign_status')
        batch_op.create_index('ix_message_campaign_id', ['campaign_id'], unique=False)
