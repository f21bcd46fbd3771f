"""double opt-in sign-up, sender registrations per country, brand opt-outs, contact country

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 10:00:00

Only ADD COLUMN, CREATE INDEX and CREATE TABLE: nothing here recreates a table. That matters on
SQLite, where batch mode would rebuild `contact`/`contact_list` with foreign keys ON (a DROP of
a parent table cascades into list_membership) and where rebuilding `consent_event` would drop
its append-only triggers. consent_event is not touched at all: a brand-scoped opt-out names
its brand in the (hashed) evidence, and `brand_opt_out` is its send-time projection.
"""
from alembic import op
import sqlalchemy as sa

import dashboard.models.types


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

BACKFILL_BATCH = 5000


def upgrade():
    op.add_column('contact', sa.Column('country', sa.String(length=3), nullable=True))
    op.create_index('ix_contact_country', 'contact', ['country'], unique=False)
    op.add_column('sender_id', sa.Column('brand', sa.String(length=80), nullable=False, server_default=''))
    op.add_column('contact_list', sa.Column('signup_enabled', sa.Boolean(), nullable=False,
                                            server_default=sa.false()))
    op.add_column('contact_list', sa.Column('signup_token', sa.String(length=32), nullable=True))
    op.create_index('ix_contact_list_signup_token', 'contact_list', ['signup_token'], unique=True)
    if op.get_bind().dialect.name == "sqlite":
        # Alembic refuses to add a constraint on SQLite outside batch mode; SQLite itself accepts an
        # inline REFERENCES on ADD COLUMN when the default is NULL.
        op.execute("ALTER TABLE contact_list ADD COLUMN signup_sender_id INTEGER "
                   "CONSTRAINT fk_contact_list_signup_sender_id_sender_id REFERENCES sender_id (id)")
    else:
        op.add_column('contact_list', sa.Column('signup_sender_id', sa.Integer(), nullable=True))
        op.create_foreign_key('fk_contact_list_signup_sender_id_sender_id', 'contact_list', 'sender_id',
                              ['signup_sender_id'], ['id'])

    op.create_table('sender_registration',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sender_id', sa.Integer(), nullable=False),
    sa.Column('country', sa.String(length=3), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('us_10dlc_brand_id', sa.String(length=40), nullable=False),
    sa.Column('us_10dlc_campaign_id', sa.String(length=40), nullable=False),
    sa.Column('dlt_entity_id', sa.String(length=40), nullable=False),
    sa.Column('dlt_template_id', sa.String(length=40), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('updated_at', dashboard.models.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['sender_id'], ['sender_id.id'], name=op.f('fk_sender_registration_sender_id_sender_id'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sender_registration')),
    sa.UniqueConstraint('sender_id', 'country', name=op.f('uq_sender_registration_sender_id'))
    )
    op.create_table('brand_opt_out',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('brand', sa.String(length=80), nullable=False),
    sa.Column('opted_out', sa.Boolean(), nullable=False),
    sa.Column('updated_at', dashboard.models.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contact.id'], name=op.f('fk_brand_opt_out_contact_id_contact'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_brand_opt_out')),
    sa.UniqueConstraint('contact_id', 'brand', name=op.f('uq_brand_opt_out_contact_id'))
    )
    op.create_table('signup_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('list_id', sa.Integer(), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('ip', sa.String(length=45), nullable=False),
    sa.Column('user_agent', sa.String(length=400), nullable=False),
    sa.Column('requested_at', dashboard.models.types.UTCDateTime(), nullable=False),
    sa.Column('expires_at', dashboard.models.types.UTCDateTime(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('sender_value', sa.String(length=20), nullable=False),
    sa.Column('confirmation_text', sa.Text(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.Column('inbound_message_id', sa.Integer(), nullable=True),
    sa.Column('confirmed_at', dashboard.models.types.UTCDateTime(), nullable=True),
    sa.Column('consent_event_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['list_id'], ['contact_list.id'], name=op.f('fk_signup_request_list_id_contact_list'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['message_id'], ['message.id'], name=op.f('fk_signup_request_message_id_message')),
    sa.ForeignKeyConstraint(['inbound_message_id'], ['inbound_message.id'],
                            name=op.f('fk_signup_request_inbound_message_id_inbound_message')),
    sa.ForeignKeyConstraint(['consent_event_id'], ['consent_event.id'],
                            name=op.f('fk_signup_request_consent_event_id_consent_event')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signup_request'))
    )
    op.create_index('ix_signup_request_phone', 'signup_request', ['phone', 'requested_at'], unique=False)
    op.create_index('ix_signup_request_ip', 'signup_request', ['ip', 'requested_at'], unique=False)

    _backfill_countries()


def _backfill_countries():
    """Every existing contact gets its number's region, in batches (keyset by id)."""
    from dashboard.sms.numbers import destination_country
    bind = op.get_bind()
    last_id = 0
    while True:
        rows = bind.execute(sa.text("SELECT id, phone FROM contact WHERE id > :last ORDER BY id LIMIT :n"),
                            {"last": last_id, "n": BACKFILL_BATCH}).all()
        if not rows:
            return
        # None stays NULL: approval_problems reports such contacts as of an unknown country.
        values = [{"id": row.id, "country": destination_country(row.phone)} for row in rows]
        if values:
            bind.execute(sa.text("UPDATE contact SET country = :country WHERE id = :id"), values)
        last_id = rows[-1].id


def downgrade():
    op.drop_index('ix_signup_request_ip', table_name='signup_request')
    op.drop_index('ix_signup_request_phone', table_name='signup_request')
    op.drop_table('signup_request')
    op.drop_table('brand_opt_out')
    op.drop_table('sender_registration')
    op.drop_index('ix_contact_list_signup_token', table_name='contact_list')
    # DROP COLUMN (SQLite ≥ 3.35) without rebuilding the tables, for the reasons above.
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint('fk_contact_list_signup_sender_id_sender_id', 'contact_list', type_='foreignkey')
    op.drop_column('contact_list', 'signup_sender_id')
    op.drop_column('contact_list', 'signup_token')
    op.drop_column('contact_list', 'signup_enabled')
    op.drop_column('sender_id', 'brand')
    op.drop_index('ix_contact_country', table_name='contact')
    op.drop_column('contact', 'country')
