"""Campaign stats: what a rep sees after real sends, opens, clicks and unsubscribes."""
from __future__ import annotations

import csv
import io
import re
from urllib.parse import urlsplit

from server.services import events
from server.services.dispatch import run_pass
from tests.adapters.sink import smtp_sink  # noqa: F401 - fixture

HUMAN = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"}
PROXY = {"User-Agent": "Mozilla/5.0 (via ggpht.com GoogleImageProxy)"}
STEPS = [{"day": 1, "type": "email", "subject": "Hi {{ first_name }}",
          "body_html": '<p>Read <a href="https://acme.example/a">this</a></p>', "send_option": "choose_at_launch"},
         {"day": 2, "type": "call"},
         {"day": 3, "type": "email", "subject": "x", "body_html": "<p>Two</p>", "send_option": "at_time",
          "time": "09:00"}]


def _path(url: str) -> str:
    return urlsplit(url).path


def _send_to(api, app, clock, sink, make_mailbox, make_person, make_campaign, n: int):
    mailbox = make_mailbox(api, port=sink.port)
    people = [make_person(api) for _ in range(n)]
    campaign = make_campaign(api, STEPS)
    launched = api.post(f"/campaigns/{campaign['id']}/launch",
                        json={"people": people, "mailbox_id": mailbox, "send_at": "now"})
    assert len(launched.json["enrolled"]) == n
    assert run_pass(app) == n
    clock.advance(minutes=5)
    messages = {}
    for received in sink.received[-n:]:
        html = received.message.get_body(("html",)).get_content()
        messages[received.rcpt_tos[0]] = {
            "pixel": _path(re.search(r'src="([^"]+/t/o/[^"]+)"', html).group(1)),
            "link": _path(re.search(r'href="([^"]+/t/c/[^"]+)"', html).group(1)),
            "unsubscribe": _path(re.search(r"<([^>]+)>", str(received.message["List-Unsubscribe"])).group(1))}
    return campaign, list(messages.values()), launched.json["enrolled"]


def test_stats_count_human_opens_and_clicks_once_per_email_and_leave_machine_opens_out(
        app, rep, clock, make_mailbox, make_person, make_campaign, smtp_sink):
    campaign, mails, enrolled = _send_to(rep, app, clock, smtp_sink, make_mailbox, make_person, make_campaign, 4)
    client = app.test_client()
    client.get(mails[0]["pixel"], headers=HUMAN)
    client.get(mails[0]["pixel"], headers=HUMAN)  # opened twice: still one opened email
    client.get(mails[1]["pixel"], headers=PROXY)  # only the image proxy: not a human open
    client.get(mails[2]["link"], headers=HUMAN)  # clicked with images blocked: opened and clicked
    client.post(mails[3]["unsubscribe"], data={"List-Unsubscribe": "One-Click"})
    with app.extensions["stepline_sessions"]() as session:  # the inbound poller saw a reply from #3
        events.record(session, "replied", at=clock.now(), user_id=rep.user_id, person_id=None,
                      campaign_id=campaign["id"], step_id=campaign["steps"][0]["id"],
                      enrollment_id=enrolled[2]["enrollment_id"])
        session.commit()

    response = rep.get(f"/campaigns/{campaign['id']}/stats")
    assert response.status_code == 200
    body = response.json
    assert body["campaign_id"] == campaign["id"]
    first, call, last = body["steps"]
    assert [s["step_id"] for s in body["steps"]] == [s["id"] for s in campaign["steps"]]
    assert (first["day"], first["position"], first["type"]) == (1, 1, "email")
    assert {k: first[k] for k in ("sent", "opened", "clicked", "replied", "bounced", "unsubscribed", "success")} == {
        "sent": 4, "opened": 2, "clicked": 1, "replied": 1, "bounced": 0, "unsubscribed": 1, "success": 0}
    assert (first["open_rate"], first["click_rate"], first["reply_rate"], first["bounce_rate"]) == (
        0.5, 0.25, 0.25, 0.0)
    assert call["sent"] == 0 and call["open_rate"] == 0.0 and last["sent"] == 0
    assert body["totals"]["sent"] == 4 and body["totals"]["opened"] == 2 and body["totals"]["open_rate"] == 0.5


def test_stats_export_as_csv_with_one_line_per_step_and_a_total(
        app, rep, clock, make_mailbox, make_person, make_campaign, smtp_sink):
    campaign, mails, _ = _send_to(rep, app, clock, smtp_sink, make_mailbox, make_person, make_campaign, 2)
    app.test_client().get(mails[0]["pixel"], headers=HUMAN)
    response = rep.get(f"/campaigns/{campaign['id']}/stats?format=csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["step_id"] for r in rows] == [str(s["id"]) for s in campaign["steps"]] + ["total"]
    assert (rows[0]["sent"], rows[0]["opened"], rows[0]["open_rate"]) == ("2", "1", "0.5")


def test_a_rep_sees_stats_of_their_own_sends_and_an_admin_sees_the_team(
        app, rep, admin, make_user, clock, make_mailbox, make_person, make_campaign, smtp_sink):
    campaign, _, _ = _send_to(rep, app, clock, smtp_sink, make_mailbox, make_person, make_campaign, 2)
    other = make_user("other@example.com")
    mailbox = make_mailbox(other, port=smtp_sink.port)
    person = make_person(other)
    other.post(f"/campaigns/{campaign['id']}/launch", json={"people": [person], "mailbox_id": mailbox,
                                                            "send_at": "now"})
    assert run_pass(app) == 1
    path = f"/campaigns/{campaign['id']}/stats"
    assert rep.get(path).json["totals"]["sent"] == 2
    assert other.get(path).json["totals"]["sent"] == 1
    assert admin.get(path).json["totals"]["sent"] == 3


def test_stats_of_an_unknown_campaign_or_format_are_clear_errors(app, rep, make_campaign):
    missing = rep.get("/campaigns/424242/stats")
    assert missing.status_code == 404 and missing.json["error"]["field"] == "campaign_id"
    campaign = make_campaign(rep, [{"day": 1, "type": "call"}])
    bad = rep.get(f"/campaigns/{campaign['id']}/stats?format=xml")
    assert bad.status_code == 422 and bad.json["error"]["field"] == "format"
    assert app.test_client().get(f"/api/v1/campaigns/{campaign['id']}/stats").status_code == 401
    empty = rep.get(f"/campaigns/{campaign['id']}/stats").json
    assert empty["steps"][0]["sent"] == 0 and empty["totals"]["open_rate"] == 0.0
