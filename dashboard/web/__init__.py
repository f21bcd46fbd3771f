"""Blueprints, one module per area. The URL leads to web/<area>.py, which calls services/."""
from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from dashboard.web import (auth, binds, campaigns, consent, contacts, home, imports, message_templates, messages,
                               reports, routes, signup, users)
    from dashboard.web.access import install_access_handlers
    from dashboard.web.errors import install_error_pages
    from dashboard.web.layout import install_layout

    for module in (auth, home, binds, routes, contacts, campaigns, messages, users, consent,
                   imports, signup, message_templates, reports):
        app.register_blueprint(module.bp)
    install_access_handlers(app)
    install_error_pages(app)
    install_layout(app)
