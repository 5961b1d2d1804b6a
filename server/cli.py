"""The ``stepline`` command: Flask's CLI group over ``create_app`` plus Stepline's commands."""
from __future__ import annotations

import csv
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from server import create_app
from server.clock import get_clock
from server.db import session_scope
from server.errors import ApiError


def _sessions():
    return current_app.extensions["stepline_sessions"]


@click.group(cls=FlaskGroup, create_app=create_app)
def main() -> None:
    """Stepline: campaigns, exact scheduling, tasks in the web app, Gmail and Outlook."""


# ------------------------------------------------------------------------ db


@main.group()
def db() -> None:
    """The database schema."""


@db.command("upgrade")
@with_appcontext
def db_upgrade() -> None:
    """Create or migrate the database (Alembic) at DATABASE_URL."""
    from server.migrate import upgrade

    url = current_app.config["DATABASE_URL"]
    upgrade(url)
    click.echo(f"database is up to date ({url.split('@')[-1]})")


# ------------------------------------------------------------------------ users


@main.group()
def users() -> None:
    """Users and their API tokens."""


@users.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(["admin", "rep"]), required=True)
@click.option("--timezone", "zone", required=True, help="IANA zone, e.g. America/New_York")
@click.option("--name", default="")
@with_appcontext
def users_create(email: str, role: str, zone: str, name: str) -> None:
    """Create a user and print one line: a new API token for it."""
    from server.services.users import create_token, create_user

    try:
        with session_scope(_sessions()) as session:
            now = get_clock().now()
            user = create_user(session, email, role=role, timezone=zone, name=name, now=now)
            token = create_token(session, user, now=now, name="cli")
    except ApiError as exc:
        raise click.ClickException(f"{exc.field}: {exc.message}") from exc
    click.echo(token)


@users.command("set-password")
@click.argument("email")
@click.password_option()
@with_appcontext
def users_set_password(email: str, password: str) -> None:
    """Set the password a user signs in to the web app with (and lift a sign-in lock on it)."""
    from server.services.sign_in_limits import clear_account
    from server.services.users import find_by_email, set_password

    try:
        with session_scope(_sessions()) as session:
            user = find_by_email(session, email)
            if user is None:
                raise click.ClickException(f"no user {email}")
            set_password(user, password)
            clear_account(session, user.email)
    except ApiError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"password set for {email}")


@users.command("token")
@click.argument("email")
@with_appcontext
def users_token(email: str) -> None:
    """Print a new API token for an existing user."""
    from server.services.users import create_token, find_by_email

    with session_scope(_sessions()) as session:
        user = find_by_email(session, email)
        if user is None:
            raise click.ClickException(f"no user {email}")
        click.echo(create_token(session, user, now=get_clock().now(), name="cli"))


# ------------------------------------------------------------------------ people


@main.group()
def people() -> None:
    """Prospects."""


@people.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
def people_import(file: Path) -> None:
    """Import people from a CSV with a header row (email, first_name, last_name, company, title,
    timezone; any other column becomes a custom field). Prints a per-row error report."""
    from server.services.people import PERSON_FIELDS, create_many

    with file.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or "email" not in reader.fieldnames:
            raise click.ClickException("the CSV needs a header row with an 'email' column")
        rows = []
        for row in reader:
            person = {k: (v or None) for k, v in row.items() if k in PERSON_FIELDS}
            person["fields"] = {k: v for k, v in row.items() if k and k not in PERSON_FIELDS and v not in (None, "")}
            rows.append(person)
    with session_scope(_sessions()) as session:
        with click.progressbar(length=len(rows), label="Importing people", file=sys.stderr) as bar:
            created, errors = create_many(session, rows, now=get_clock().now(), progress=bar.update)
    for error in errors:
        # Row numbers count the header as row 1, like a spreadsheet.
        click.echo(f"row {error['index'] + 2}: {error['field'] or ''} {error['message']}".replace("  ", " "))
    click.echo(f"{len(created)} imported, {len(errors)} refused")


# ------------------------------------------------------------------------ worker and demo


@main.command("worker")
@click.option("--once", is_flag=True, help="Do one pass and exit.")
@with_appcontext
def worker(once: bool) -> None:
    """The dispatcher: sends due emails, creates due tasks, polls mailboxes."""
    from server.worker import run_worker

    run_worker(current_app, once=once)


@main.command("demo")
@with_appcontext
def demo() -> None:
    """Load a small demo team, templates, campaign and people; print how to sign in."""
    from server.demo import load_demo

    with session_scope(_sessions()) as session:
        info = load_demo(session, now=get_clock().now())
    for line in info:
        click.echo(line)


def _attach_integrations() -> None:
    """The add-ins bring their own commands (``stepline gmail ...``, ``stepline outlook ...``)."""
    for module, name in (("gmail_addon.cli", "gmail_cli"), ("outlook_addin.cli", "outlook_cli")):
        try:
            mod = __import__(module, fromlist=[name])
        except ModuleNotFoundError:
            continue
        command = getattr(mod, name, None)
        if command is not None:
            main.add_command(command)


_attach_integrations()
