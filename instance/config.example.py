# Copy to instance/config.py to override defaults; SWITCHBOARD_* environment variables win over it.
# DATABASE_URL = "postgresql+psycopg://switchboard@localhost/switchboard"
# DEFAULT_REGION = "DE"
# CLAIM_LEASE_SECONDS = 120
# RECEIPT_HOLD_HOURS = 24
# OPT_OUT_SCOPE = "brand"                      # "global" (default) or "brand"; see docs/consent.md
# OPT_OUT_KEYWORDS = "STOP,STOPALL,UNSUBSCRIBE,END,CANCEL,QUIT,ARRET,BAJA,STOPP"
# SENDER_REGISTRATION_REQUIRED = False         # approved senders with no registrations go everywhere
# SIGNUP_CONFIRMATION_MINUTES = 30
