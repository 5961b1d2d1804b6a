"""Stepline's Gmail add-on: a Google Workspace add-on on HTTP endpoints (no Apps Script).

The server mounts :data:`bp` under ``/addons/gmail``; ``stepline gmail deployment`` writes
the deployment resource that points Google at those endpoints (see README.md here).
"""
from gmail_addon.routes import bp

__all__ = ["bp"]
