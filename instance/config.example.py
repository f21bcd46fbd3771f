# Copy to instance/config.py to override defaults; SWITCHBOARD_* environment variables win over it.
# DATABASE_URL = "postgresql+psycopg://switchboard@localhost/switchboard"
# DEFAULT_REGION = "DE"
# CLAIM_LEASE_SECONDS = 120
# RECEIPT_HOLD_HOURS = 24
