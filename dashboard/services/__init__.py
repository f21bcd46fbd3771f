"""The only layer that mixes the database with the pure domain in dashboard.sms."""
