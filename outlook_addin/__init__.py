"""Stepline's Outlook add-in: task pane, manifests, and the endpoints the pane calls.

The app mounts the blueprint with ``app.register_blueprint(bp, url_prefix="/addins/outlook")``
and the CLI group with ``cli.add_command(outlook_cli)`` (from ``outlook_addin.cli``).

``bp`` is imported lazily (PEP 562) so that the pure modules (``auth``, ``manifest``,
``graph``) can be used and tested without loading the web layer and the core behind it.
"""
from __future__ import annotations

__all__ = ["bp"]


def __getattr__(name: str):
    if name == "bp":
        from .views import bp

        return bp
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
