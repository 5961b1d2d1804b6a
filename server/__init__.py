"""Stepline: the Flask application factory.

``create_app`` follows the Flask tutorial's shape: configuration from the environment (and
an optional ``instance/config.py``), one engine and session factory, one blueprint per area.
"""
from __future__ import annotations

import os
from typing import Any

from flask import Flask

from server.clock import Clock, SystemClock
from server.config import load_settings
from server.db import close_session, make_engine, make_session_factory


def create_app(test_config: dict[str, Any] | None = None, *, clock: Clock | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.update(load_settings(app.instance_path))
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
    else:
        app.config.update(test_config)
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.json.sort_keys = False
    proxies = int(app.config.get("TRUSTED_PROXIES") or 0)
    if proxies > 0:
        # Behind nginx or a load balancer the client is in X-Forwarded-For: the sign-in rate
        # limit counts per client IP, and links and Secure cookies need the public scheme.
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)  # type: ignore[method-assign]

    engine = make_engine(app.config["DATABASE_URL"])
    app.extensions["stepline_engine"] = engine
    app.extensions["stepline_sessions"] = make_session_factory(engine)
    app.extensions["stepline_clock"] = clock or SystemClock()
    app.teardown_appcontext(close_session)

    from server.api import init_api

    init_api(app)
    _register_optional_blueprints(app)
    return app


def _register_optional_blueprints(app: Flask) -> None:
    """The web app and the add-ins live in their own packages; each mounts itself here."""
    import importlib

    for module, prefix in (("server.web", None), ("server.tracking", None), ("server.oauth", "/oauth"),
                           ("gmail_addon", "/addons/gmail"), ("outlook_addin", "/addins/outlook")):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name == module:
                continue
            raise
        bp = getattr(mod, "bp", None)
        if bp is not None:
            app.register_blueprint(bp, url_prefix=prefix) if prefix else app.register_blueprint(bp)
