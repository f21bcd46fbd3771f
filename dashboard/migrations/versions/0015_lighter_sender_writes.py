"""the sender's writes without dead weight: the timeline (message_event) and the receipts
(delivery_receipt) lose their foreign keys, message_part the index on message_id that its unique
(message_id, part_no) already serves, message its unused idempotency_key column, and its unique
(campaign_id, contact_id) becomes a partial index of campaign messages

Revision ID: 0015_lighter_sender_writes
Revises: 0014_worker_leases
Create Date: 2026-12-01 11:30:00

Why (docs/scaling.md, "What limits it"): PostgreSQL checks a foreign key with a query per row, and
the sender writes six such rows per message (four timeline rows, one receipt naming its bind and
its part). Those checks were about a quarter of PostgreSQL's time on the sending path. The rows
are written only by the sender, for messages it holds in the same transaction, and neither
messages nor binds are ever deleted (a bind is retired, its row kept): the checks could not fail.
tests/worker/test_integrity.py checks the same thing after a run with failures, retries and late
receipts.

And every write of a message (its insert, the claim, its end) updates each of its indexes on
PostgreSQL: idempotency_key was never written (the API's Idempotency-Key lives in
idempotency_record), and a message outside a campaign has nothing for the launch's unique index to
keep unique.
"""
import sqlalchemy as sa
from alembic import op

revision = '0015_lighter_sender_writes'
down_revision = '0014_worker_leases'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('message_event', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_message_event_message_id_message'), type_='foreignkey')
    with op.batch_alter_table('delivery_receipt', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_delivery_receipt_bind_id_bind'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_delivery_receipt_part_id_message_part'), type_='foreignkey')
    with op.batch_alter_table('message_part', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_message_part_message_id'))
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_message_idempotency_key'), type_='unique')
        batch_op.drop_column('idempotency_key')
        batch_op.drop_constraint(batch_op.f('uq_message_campaign_id_contact_id'), type_='unique')
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.create_index('uq_message_campaign_id_contact_id', ['campaign_id', 'contact_id'], unique=True,
                              sqlite_where=sa.text('campaign_id IS NOT NULL'),
                              postgresql_where=sa.text('campaign_id IS NOT NULL'))


def downgrade():
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_index('uq_message_campaign_id_contact_id')
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f('uq_message_campaign_id_contact_id'), ['campaign_id', 'contact_id'])
        batch_op.add_column(sa.Column('idempotency_key', sa.String(length=120), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_message_idempotency_key'), ['idempotency_key'])
    with op.batch_alter_table('message_part', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_message_part_message_id'), ['message_id'], unique=False)
    with op.batch_alter_table('delivery_receipt', schema=None) as batch_op:
        batch_op.create_foreign_key(batch_op.f('fk_delivery_receipt_part_id_message_part'), 'message_part',
                                    ['part_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_delivery_receipt_bind_id_bind'), 'bind', ['bind_id'], ['id'])
    with op.batch_alter_table('message_event', schema=None) as batch_op:
        batch_op.create_foreign_key(batch_op.f('fk_message_event_message_id_message'), 'message',
                                    ['message_id'], ['id'], ondelete='CASCADE')
