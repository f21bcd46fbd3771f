"""Blueprints, one module per area. The URL leads to web/<area>.py, which calls services/."""
from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from dashboard.web import (alerts, api_docs, api_keys, audit, auth, binds, campaigns, charts, consent, contacts, home,
                               imports, message_templates, messages, metrics, reports, routes, signup, users, webhooks)
    from dashboard.web.access import install_access_handlers
    from dashboard.web.errors import install_error_pages
    from dashboard.web.headers import install_security_headers
    from dashboard.web.layout import install_layout
    from dashboard.web.params import IdConverter

    app.url_map.converters["int"] = IdConverter  # ids beyond a 64-bit column are a 404, not a 500
    for module in (auth, home, binds, routes, contacts, campaigns, messages, users, consent, imports, signup,
                   message_templates, reports, audit, charts, alerts, metrics, api_keys, webhooks, api_docs):
        app.register_blueprint(module.bp)
    install_access_handlers(app)
    install_error_pages(app)
    install_security_headers(app)
    install_layout(app)
