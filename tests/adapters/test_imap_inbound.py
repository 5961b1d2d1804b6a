"""IMAP polling of an SMTP mailbox against a real IMAP server (Debian's dovecot, started here)."""
from __future__ import annotations

import imaplib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from server.models import Email, Enrollment, Event, Mailbox
from server.services.dispatch import run_pass
from server.services.inbound import poll_all
from tests.adapters.sink import free_port, smtp_sink  # noqa: F401 - fixture
from tests.adapters.test_inbound_classify import dsn

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
CONFIG = """
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{dir}/mail/%u
first_valid_uid = 0
{login_users}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {dir}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={dir}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
}}
"""


@pytest.fixture
def imap_server():
    if not os.path.exists(DOVECOT):
        pytest.skip("dovecot is not installed (apt-get install dovecot-imapd)")
    directory = tempfile.mkdtemp(prefix="stepline-dovecot-")
    os.chmod(directory, 0o777)
    port = free_port()
    if os.geteuid() == 0:
        uid = gid = "dovecot"
        login_users = ""
    else:
        import grp
        import pwd

        uid, gid = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
        login_users = (f"default_login_user = {uid}\ndefault_internal_user = {uid}\n"
                       f"default_internal_group = {gid}\n")
    Path(directory, "dovecot.conf").write_text(CONFIG.format(dir=directory, port=port, uid=uid, gid=gid,
                                                             login_users=login_users))
    Path(directory, "users").write_text("ann@sales.example:{PLAIN}imap-secret\n")
    process = subprocess.Popen([DOVECOT, "-F", "-c", f"{directory}/dovecot.conf"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            imaplib.IMAP4("127.0.0.1", port, timeout=2).logout()
            break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                pytest.skip("dovecot did not start: " + Path(directory, "dovecot.log").read_text()[-500:]
                            if Path(directory, "dovecot.log").exists() else "dovecot did not start")
            time.sleep(0.1)
    yield port
    process.terminate()
    process.wait(timeout=10)
    shutil.rmtree(directory, ignore_errors=True)


def _deliver_to_inbox(port: int, raw: bytes) -> None:
    conn = imaplib.IMAP4("127.0.0.1", port)
    conn.login("ann@sales.example", "imap-secret")
    conn.append("INBOX", None, None, raw)
    conn.logout()


STEPS = [{"day": 1, "type": "email", "subject": "Hello", "body_html": "<p>Hi</p>", "send_option": "choose_at_launch"},
         {"day": 3, "type": "email", "subject": "x", "body_html": "<p>Again</p>",
          "send_option": "same_time_as_previous", "follow_up": True}]


def _launch(app, rep, make_mailbox, make_person, make_campaign, sink, port) -> str:
    mailbox = make_mailbox(rep, address="ann@sales.example", port=sink.port, imap_host="127.0.0.1", imap_port=port,
                           smtp_username="ann@sales.example", smtp_password="imap-secret")
    person = make_person(rep, email="pat@prospect.example")
    campaign = make_campaign(rep, STEPS)
    rep.post(f"/campaigns/{campaign['id']}/launch", json={"people": [person], "mailbox_id": mailbox, "send_at": "now"})
    run_pass(app)
    with app.extensions["stepline_sessions"]() as session:
        return session.scalars(select(Email.message_id).where(Email.status == "sent")).one()


def test_a_reply_arriving_in_the_imap_inbox_ends_the_enrollment_once(app, rep, make_mailbox, make_person,
                                                                     make_campaign, smtp_sink, imap_server):
    message_id = _launch(app, rep, make_mailbox, make_person, make_campaign, smtp_sink, imap_server)
    _deliver_to_inbox(imap_server, b"From: someone@else.example\r\nTo: ann@sales.example\r\nSubject: news\r\n"
                                   b"Message-ID: <unrelated@else.example>\r\n\r\nnot about us\r\n")
    _deliver_to_inbox(imap_server, (
        f"From: Pat <pat@prospect.example>\r\nTo: ann@sales.example\r\nSubject: Re: Hello\r\n"
        f"Message-ID: <reply@prospect.example>\r\nIn-Reply-To: {message_id}\r\nReferences: {message_id}\r\n"
        f"\r\nLet's talk.\r\n").encode())
    assert poll_all(app) == 1
    assert poll_all(app) == 0  # the cursor moved on: nothing is applied twice
    with app.extensions["stepline_sessions"]() as session:
        assert session.scalars(select(Enrollment)).one().state == "replied"
        assert session.scalars(select(Mailbox)).one().inbound_cursor == "2"
        assert [e.type for e in session.scalars(select(Event).where(Event.type == "replied"))] == ["replied"]


def test_a_bounce_in_the_imap_inbox_ends_the_enrollment_as_bounced(app, rep, make_mailbox, make_person,
                                                                   make_campaign, smtp_sink, imap_server):
    message_id = _launch(app, rep, make_mailbox, make_person, make_campaign, smtp_sink, imap_server)
    _deliver_to_inbox(imap_server, dsn("failed", "5.1.1", message_id))
    assert poll_all(app) == 1
    with app.extensions["stepline_sessions"]() as session:
        assert session.scalars(select(Enrollment)).one().state == "bounced"
