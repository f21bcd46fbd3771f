"""the HTTP API: keys, idempotency records, one-time codes and fraud alerts, the webhook outbox;
messages carry their key, client reference, callback URL, webhook progress and validity

Revision ID: 0013_api_keys_webhooks
Revises: 0012_rollups_alerts
Create Date: 2026-11-30 23:00:00

"""
import sqlalchemy as sa
from alembic import op

from dashboard.models.types import UTCDateTime

# revision identifiers, used by Alembic.
revision = '0013_api_keys_webhooks'
down_revision = '0012_rollups_alerts'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'api_key',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=80), nullable=False),
        sa.Column('prefix', sa.String(length=24), nullable=False),
        sa.Column('secret_hash', sa.String(length=64), nullable=False),
        sa.Column('scopes', sa.String(length=80), nullable=False),
        sa.Column('allowed_countries', sa.String(length=400), nullable=False),
        sa.Column('rate_limit', sa.String(length=80), nullable=False),
        sa.Column('duplicate_window_minutes', sa.Integer(), nullable=False),
        sa.Column('webhook_url', sa.Text(), nullable=True),
        sa.Column('inbound_webhooks', sa.Boolean(), nullable=False),
        sa.Column('webhook_secret_encrypted', sa.Text(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('last_used_at', UTCDateTime(), nullable=True),
        sa.Column('revoked_at', UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_api_key_created_by_id_user')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_api_key')),
        sa.UniqueConstraint('prefix', name=op.f('uq_api_key_prefix')),
    )
    op.create_table(
        'idempotency_record',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('api_key_id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=255), nullable=False),
        sa.Column('request_hash', sa.String(length=64), nullable=False),
        sa.Column('status_code', sa.Integer(), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['api_key_id'], ['api_key.id'], name=op.f('fk_idempotency_record_api_key_id_api_key')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotency_record')),
        sa.UniqueConstraint('api_key_id', 'key', name=op.f('uq_idempotency_record_api_key_id_key')),
    )
    op.create_index(op.f('ix_idempotency_record_created_at'), 'idempotency_record', ['created_at'], unique=False)

    # The message columns first: verification and webhook_event refer to message.
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('api_key_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('client_ref', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('callback_url', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('webhook_seq', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('valid_until', UTCDateTime(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_message_api_key_id_api_key'), 'api_key', ['api_key_id'], ['id'])
        batch_op.create_index('ix_message_client_ref', ['client_ref'], unique=False,
                              sqlite_where=sa.text('client_ref IS NOT NULL'),
                              postgresql_where=sa.text('client_ref IS NOT NULL'))
        batch_op.create_index('ix_message_webhook_due', ['id'], unique=False,
                              sqlite_where=sa.text('webhook_seq IS NOT NULL AND event_seq > webhook_seq'),
                              postgresql_where=sa.text('webhook_seq IS NOT NULL AND event_seq > webhook_seq'))
        batch_op.create_index('ix_message_valid_until', ['status', 'valid_until'], unique=False,
                              sqlite_where=sa.text('valid_until IS NOT NULL'),
                              postgresql_where=sa.text('valid_until IS NOT NULL'))
    with op.batch_alter_table('inbound_message', schema=None) as batch_op:
        # MOs received before the API existed are not news to any receiver.
        batch_op.add_column(sa.Column('webhook_done', sa.Boolean(), nullable=False, server_default=sa.true()))
    with op.batch_alter_table('inbound_message', schema=None) as batch_op:
        batch_op.alter_column('webhook_done', existing_type=sa.Boolean(), server_default=None)
        batch_op.create_index('ix_inbound_message_webhook', ['id'], unique=False,
                              sqlite_where=sa.text('webhook_done IS 0'),
                              postgresql_where=sa.text('webhook_done IS false'))

    op.create_table(
        'verification',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('api_key_id', sa.Integer(), nullable=False),
        sa.Column('destination', sa.String(length=20), nullable=False),
        sa.Column('prefix', sa.String(length=20), nullable=False),
        sa.Column('channel', sa.String(length=10), nullable=False),
        sa.Column('code_hash', sa.String(length=64), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('max_attempts', sa.Integer(), nullable=False),
        sa.Column('message_id', sa.Integer(), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('expires_at', UTCDateTime(), nullable=False),
        sa.Column('approved_at', UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['api_key_id'], ['api_key.id'], name=op.f('fk_verification_api_key_id_api_key')),
        sa.ForeignKeyConstraint(['message_id'], ['message.id'], name=op.f('fk_verification_message_id_message')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_verification')),
    )
    op.create_index(op.f('ix_verification_api_key_id'), 'verification', ['api_key_id'], unique=False)
    op.create_index('ix_verification_destination', 'verification', ['destination', 'created_at'], unique=False)
    op.create_index('ix_verification_prefix', 'verification', ['prefix', 'created_at'], unique=False)
    op.create_table(
        'verification_check',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('verification_id', sa.Integer(), nullable=True),
        sa.Column('api_key_id', sa.Integer(), nullable=False),
        sa.Column('destination', sa.String(length=20), nullable=False),
        sa.Column('approved', sa.Boolean(), nullable=False),
        sa.Column('at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['api_key_id'], ['api_key.id'], name=op.f('fk_verification_check_api_key_id_api_key')),
        sa.ForeignKeyConstraint(['verification_id'], ['verification.id'],
                                name=op.f('fk_verification_check_verification_id_verification')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_verification_check')),
    )
    op.create_index('ix_verification_check_destination', 'verification_check', ['destination', 'at'], unique=False)
    op.create_index('ix_verification_check_key', 'verification_check', ['api_key_id', 'at'], unique=False)
    op.create_table(
        'fraud_alert',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=40), nullable=False),
        sa.Column('prefix', sa.String(length=20), nullable=False),
        sa.Column('api_key_id', sa.Integer(), nullable=True),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.Column('detail', sa.Text(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['api_key_id'], ['api_key.id'], name=op.f('fk_fraud_alert_api_key_id_api_key')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_fraud_alert')),
    )
    op.create_index('ix_fraud_alert_prefix', 'fraud_alert', ['kind', 'prefix', 'created_at'], unique=False)
    op.create_table(
        'webhook_event',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('api_key_id', sa.Integer(), nullable=False),
        sa.Column('url', sa.Text(), nullable=False),
        sa.Column('type', sa.String(length=40), nullable=False),
        sa.Column('message_id', sa.Integer(), nullable=True),
        sa.Column('inbound_message_id', sa.Integer(), nullable=True),
        sa.Column('seq', sa.Integer(), nullable=True),
        sa.Column('payload', sa.JSON(), nullable=False),
        sa.Column('occurred_at', UTCDateTime(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', UTCDateTime(), nullable=True),
        sa.Column('last_attempt_at', UTCDateTime(), nullable=True),
        sa.Column('last_status_code', sa.Integer(), nullable=True),
        sa.Column('last_latency_ms', sa.Double(), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('delivered_at', UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['api_key_id'], ['api_key.id'], name=op.f('fk_webhook_event_api_key_id_api_key')),
        sa.ForeignKeyConstraint(['inbound_message_id'], ['inbound_message.id'],
                                name=op.f('fk_webhook_event_inbound_message_id_inbound_message')),
        sa.ForeignKeyConstraint(['message_id'], ['message.id'], name=op.f('fk_webhook_event_message_id_message')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_event')),
    )
    op.create_index('ix_webhook_event_pending', 'webhook_event', ['api_key_id', 'url', 'id'], unique=False,
                    sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'"))
    op.create_index('ix_webhook_event_message', 'webhook_event', ['message_id'], unique=False)
    op.create_table(
        'webhook_attempt',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('url', sa.Text(), nullable=False),
        sa.Column('event_ids', sa.JSON(), nullable=False),
        sa.Column('at', UTCDateTime(), nullable=False),
        sa.Column('status_code', sa.Integer(), nullable=True),
        sa.Column('latency_ms', sa.Double(), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_attempt')),
    )
    op.create_index('ix_webhook_attempt_url', 'webhook_attempt', ['url', 'id'], unique=False)


def downgrade():
    op.drop_index('ix_webhook_attempt_url', table_name='webhook_attempt')
    op.drop_table('webhook_attempt')
    op.drop_index('ix_webhook_event_message', table_name='webhook_event')
    op.drop_index('ix_webhook_event_pending', table_name='webhook_event')
    op.drop_table('webhook_event')
    op.drop_index('ix_fraud_alert_prefix', table_name='fraud_alert')
    op.drop_table('fraud_alert')
    op.drop_index('ix_verification_check_key', table_name='verification_check')
    op.drop_index('ix_verification_check_destination', table_name='verification_check')
    op.drop_table('verification_check')
    op.drop_index('ix_verification_prefix', table_name='verification')
    op.drop_index('ix_verification_destination', table_name='verification')
    op.drop_index(op.f('ix_verification_api_key_id'), table_name='verification')
    op.drop_table('verification')
    with op.batch_alter_table('inbound_message', schema=None) as batch_op:
        batch_op.drop_index('ix_inbound_message_webhook')
        batch_op.drop_column('webhook_done')
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_index('ix_message_valid_until')
        batch_op.drop_index('ix_message_webhook_due')
        batch_op.drop_index('ix_message_client_ref')
        batch_op.drop_constraint(batch_op.f('fk_message_api_key_id_api_key'), type_='foreignkey')
        batch_op.drop_column('valid_until')
        batch_op.drop_column('webhook_seq')
        batch_op.drop_column('callback_url')
        batch_op.drop_column('client_ref')
        batch_op.drop_column('api_key_id')
    op.drop_index(op.f('ix_idempotency_record_created_at'), table_name='idempotency_record')
    op.drop_table('idempotency_record')
    op.drop_table('api_key')
