"""``stepline outlook manifest --base-url https://...``: write the add-in's manifests here.

A plain click group (not a Flask ``AppGroup``): writing manifests needs no app, no database
and no configuration beyond the public URL and, optionally, the Entra app's client id.
"""
from __future__ import annotations

from pathlib import Path

import click

from .manifest import write_manifests


@click.group("outlook", help="The Outlook add-in.")
def outlook_cli() -> None:
    pass


@outlook_cli.command("manifest")
@click.option("--base-url", required=True, help="The server's public https:// URL, as Outlook reaches it.")
@click.option("--client-id", envvar="MS_CLIENT_ID", default=None, show_envvar=True,
              help="Application (client) id of Stepline's Entra app registration, for single sign-on.")
@click.option("--out", "folder", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Folder to write into.")
def manifest_command(base_url: str, client_id: str | None, folder: Path) -> None:
    """Write manifest.xml and manifest.json (plus the icons and app package) for BASE_URL."""
    try:
        paths = write_manifests(base_url, folder, client_id or None)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--base-url") from None
    for path in paths:
        click.echo(str(path))
    if not client_id:
        click.echo("note: no --client-id/MS_CLIENT_ID; the manifests carry no single sign-on registration.", err=True)
