"""The pure classification of incoming mail: reply, auto-reply (RFC 3834) or bounce (RFC 3464 DSN),
and which of our Message-IDs it answers."""
from __future__ import annotations

from server.services.inbound import classify, is_auto_reply, parse

REPLY = (b"From: Pat <pat@prospect.example>\r\nTo: ann@sales.example\r\nSubject: Re: Hello\r\n"
         b"Message-ID: <reply-1@prospect.example>\r\nIn-Reply-To: <second@sales.example>\r\n"
         b"References: <first@sales.example> <second@sales.example>\r\n\r\nSounds good!\r\n")


def _with(headers: str) -> bytes:
    return headers.encode() + REPLY


def test_a_human_reply_answers_its_in_reply_to_first_then_the_references_newest_first():
    inbound = classify(parse(REPLY))
    assert inbound.kind == "reply"
    assert inbound.answers == ("<second@sales.example>", "<first@sales.example>")
    assert inbound.message_id == "<reply-1@prospect.example>"


def test_auto_submitted_x_autoreply_and_precedence_mark_auto_replies():
    assert classify(parse(_with("Auto-Submitted: auto-replied (vacation)\r\n"))).kind == "auto_reply"
    assert classify(parse(_with("X-Autoreply: yes\r\n"))).kind == "auto_reply"
    assert classify(parse(_with("Precedence: bulk\r\n"))).kind == "auto_reply"
    assert classify(parse(_with("Precedence: auto_reply\r\n"))).kind == "auto_reply"


def test_auto_submitted_no_is_a_human_reply():
    assert not is_auto_reply(parse(_with("Auto-Submitted: no\r\n")))
    assert classify(parse(_with("Auto-Submitted: no\r\n"))).kind == "reply"


def dsn(action: str, status: str, original_id: str = "<first@sales.example>") -> bytes:
    return (
        "From: Mail Delivery Subsystem <MAILER-DAEMON@mx.prospect.example>\r\n"
        "To: ann@sales.example\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <dsn-1@mx.prospect.example>\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.prospect.example\r\nArrival-Date: Mon, 2 Mar 2026 13:00:01 +0000\r\n\r\n"
        f"Final-Recipient: rfc822; pat@prospect.example\r\nAction: {action}\r\nStatus: {status}\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 <pat@prospect.example>: Recipient address rejected\r\n\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: Ann <ann@sales.example>\r\nTo: pat@prospect.example\r\nSubject: Hello\r\nMessage-ID: {original_id}\r\n"
        "\r\n--B--\r\n").encode()


def test_a_failed_dsn_is_a_hard_bounce_of_the_returned_message_id():
    inbound = classify(parse(dsn("failed", "5.1.1")))
    assert (inbound.kind, inbound.hard_bounce, inbound.bounce_status) == ("bounce", True, "5.1.1")
    assert inbound.answers == ("<first@sales.example>",)


def test_a_delayed_dsn_is_a_soft_bounce():
    inbound = classify(parse(dsn("delayed", "4.4.1")))
    assert (inbound.kind, inbound.hard_bounce, inbound.bounce_status) == ("bounce", False, "4.4.1")


def test_a_message_that_answers_nothing_of_ours_has_no_candidates():
    plain = b"From: x@y.example\r\nTo: ann@sales.example\r\nSubject: hi\r\nMessage-ID: <n@y>\r\n\r\nhello\r\n"
    assert classify(parse(plain)).answers == ()
