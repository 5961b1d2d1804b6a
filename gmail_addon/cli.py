"""``stepline gmail deployment --base-url URL`` (the lead attaches ``gmail_cli`` to ``stepline``)."""
from __future__ import annotations

from pathlib import Path

import click

from gmail_addon.deployment import write_deployment


@click.group("gmail", help="The Gmail add-on (Google Workspace add-on, HTTP runtime).")
def gmail_cli() -> None:
    pass


@gmail_cli.command("deployment")
@click.option("--base-url", required=True,
              help="The server's public https URL; must equal its PUBLIC_BASE_URL setting.")
def deployment_command(base_url: str) -> None:
    """Write deployment.json for `gcloud workspace-add-ons deployments create` into the current folder."""
    try:
        path = write_deployment(base_url, Path.cwd())
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--base-url") from exc
    click.echo(str(path))
