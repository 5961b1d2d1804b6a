"""Open pixel and click redirects, fetched from a really delivered message."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from server.models import Email, Event
from server.services import tracking

HUMAN_UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko)"


def _events(app, type_: str | None = None) -> list[Event]:
    with app.extensions["stepline_sessions"]() as session:
        query = select(Event).order_by(Event.id)
        if type_:
            query = query.where(Event.type == type_)
        return list(session.scalars(query))


def _email(app) -> Email:
    with app.extensions["stepline_sessions"]() as session:
        return session.scalars(select(Email).where(Email.status == "sent")).one()


def test_a_human_opening_the_delivered_email_records_one_opened_event_with_its_campaign_and_step(
        app, send_one, rep):
    sent = send_one()
    client = app.test_client()
    response = client.get(sent.pixel_path, headers={"User-Agent": HUMAN_UA})
    assert response.status_code == 200 and response.mimetype == "image/gif"
    assert response.data.startswith(b"GIF89a") and "no-store" in response.headers["Cache-Control"]
    [opened] = _events(app, "opened")
    email = _email(app)
    assert (opened.email_id, opened.person_id, opened.user_id) == (email.id, sent.person_id, rep.user_id)
    assert opened.campaign_id == sent.campaign["id"] and opened.step_id == sent.campaign["steps"][0]["id"]
    assert opened.data["machine"] is False and opened.data["user_agent"] == HUMAN_UA
    feed = rep.get("/events").json["events"]
    assert [e["type"] for e in feed][-1] == "opened"


def test_each_link_of_the_delivered_email_redirects_to_its_own_original_url_and_records_a_click(app, send_one):
    sent = send_one()
    assert len(sent.link_paths) == 2  # the mailto: link is left alone
    assert 'href="mailto:ann@sales.example"' in sent.html
    client = app.test_client()
    first = client.get(sent.link_paths[0], headers={"User-Agent": HUMAN_UA})
    second = client.get(sent.link_paths[1], headers={"User-Agent": HUMAN_UA})
    assert first.status_code == 302 and first.headers["Location"] == "https://acme.example/pricing?a=1&b=2"
    assert second.status_code == 302 and second.headers["Location"] == "https://acme.example/case-study"
    clicks = _events(app, "clicked")
    assert [(c.data["url"], c.data["machine"]) for c in clicks] == [
        ("https://acme.example/pricing?a=1&b=2", False), ("https://acme.example/case-study", False)]
    assert _email(app).tracked_links == ["https://acme.example/pricing?a=1&b=2", "https://acme.example/case-study"]


def test_forged_or_edited_tokens_get_404_and_record_nothing(app, send_one):
    sent = send_one()
    client = app.test_client()
    email = _email(app)
    pixel_token = sent.pixel_path.rsplit("/", 1)[1][:-4]
    edited = pixel_token[:-2] + ("AA" if not pixel_token.endswith("AA") else "BB")
    forged_click = tracking.click_token({"SECRET_KEY": "not-our-secret"}, email.id, 0)
    other_salt = tracking.open_token(app.config, email.id)  # an open token is not a click token
    for path in (f"/t/o/{edited}.gif", "/t/o/garbage.gif", f"/t/c/{forged_click}", f"/t/c/{other_salt}",
                 sent.link_paths[0] + "x", f"/t/c/{tracking.click_token(app.config, email.id, 7)}",
                 f"/t/o/{tracking.open_token(app.config, 999999)}.gif"):
        response = client.get(path, headers={"User-Agent": HUMAN_UA})
        assert response.status_code == 404, path
        assert "Location" not in response.headers
    assert _events(app, "opened") == [] and _events(app, "clicked") == []


def test_a_click_token_never_redirects_anywhere_but_its_own_url_even_with_a_target_in_the_query(app, send_one):
    sent = send_one()
    response = app.test_client().get(sent.link_paths[1] + "?url=https://evil.example/&next=https://evil.example/",
                                     headers={"User-Agent": HUMAN_UA})
    assert response.headers["Location"] == "https://acme.example/case-study"


def test_image_proxies_and_link_scanners_are_recorded_but_flagged_as_machine(app, send_one):
    sent = send_one()
    client = app.test_client()
    agents = ["Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
              "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html",
              "Barracuda Sentinel (EE)", "Proofpoint URL Defense", ""]
    for agent in agents:
        client.get(sent.pixel_path, headers={"User-Agent": agent})
    client.get(sent.link_paths[0], headers={"User-Agent": "Microsoft Defender SafeLinks scanner"})
    events = _events(app, "opened") + _events(app, "clicked")
    assert len(events) == 6 and all(e.data["machine"] is True for e in events)


def test_an_open_within_seconds_of_the_send_is_a_machine_open(app, send_one, clock):
    sent = send_one()
    with app.extensions["stepline_sessions"]() as session:  # rewind: the fetch comes 2 s after sent_at
        sent_at = session.scalars(select(Email.sent_at).where(Email.status == "sent")).one()
    clock.set(sent_at + timedelta(seconds=2))
    app.test_client().get(sent.pixel_path, headers={"User-Agent": HUMAN_UA})
    [opened] = _events(app, "opened")
    assert opened.data["machine"] is True and opened.data["machine_reason"] == "seconds after delivery"


def test_the_senders_own_views_are_not_recorded(app, send_one, rep):
    sent = send_one()
    client = app.test_client()
    client.set_cookie(tracking.SENDER_COOKIE, tracking.sender_cookie_value(app.config, rep.user_id),
                      domain="localhost", path="/t/")
    assert client.get(sent.pixel_path, headers={"User-Agent": HUMAN_UA}).status_code == 200
    assert client.get(sent.link_paths[0], headers={"User-Agent": HUMAN_UA}).status_code == 302
    with client.session_transaction() as web_session:  # the rep signed in to the web app
        web_session["uid"] = rep.user_id
    client.delete_cookie(tracking.SENDER_COOKIE, domain="localhost", path="/t/")
    assert client.get(sent.pixel_path, headers={"User-Agent": HUMAN_UA}).status_code == 200
    assert _events(app, "opened") == [] and _events(app, "clicked") == []
    # A different rep's cookie is not the sender's: that view counts.
    other = app.test_client()
    other.set_cookie(tracking.SENDER_COOKIE, tracking.sender_cookie_value(app.config, rep.user_id + 99),
                     domain="localhost", path="/t/")
    other.get(sent.pixel_path, headers={"User-Agent": HUMAN_UA})
    assert len(_events(app, "opened")) == 1


def test_a_campaign_with_tracking_switched_off_sends_links_and_body_untouched(app, send_one):
    sent = send_one(settings={"track_opens": False, "track_clicks": False})
    assert "/t/o/" not in sent.html and "/t/c/" not in sent.html
    assert 'href="https://acme.example/pricing?a=1&amp;b=2"' in sent.html


def test_opens_off_clicks_on_tracks_only_the_links(app, send_one):
    sent = send_one(settings={"track_opens": False})
    assert "/t/o/" not in sent.html and len(sent.link_paths) == 2


def test_a_rep_signed_in_to_the_web_app_gets_the_sender_cookie_and_their_pixel_loads_are_not_counted(
        app, send_one, rep):
    sent = send_one()
    browser = app.test_client()
    with browser.session_transaction() as web_session:
        web_session["uid"] = rep.user_id
    browser.get("/api/v1/health")  # API answers do not set it...
    assert browser.get_cookie(tracking.SENDER_COOKIE, domain="localhost", path="/t/") is None
    browser.get("/")  # ...any page of the web app does
    cookie = browser.get_cookie(tracking.SENDER_COOKIE, domain="localhost", path="/t/")
    assert cookie is not None and tracking.sender_from_cookie(app.config, cookie.value) == rep.user_id
    with browser.session_transaction() as web_session:  # a webmail tab: no Lax session cookie sent
        web_session.clear()
    browser.get(sent.pixel_path, headers={"User-Agent": HUMAN_UA})
    assert _events(app, "opened") == []


def test_rewriting_leaves_unsubscribe_and_non_web_links_alone_and_puts_the_pixel_inside_the_body(app):
    from types import SimpleNamespace

    body = ('<html><body><a href="https://acme.example/a">a</a> <a href="http://localhost/u/tok">leave</a> '
            '<a href="tel:+15551234">call</a> <a href="#top">top</a></body></html>')
    out = tracking.rewrite_html(body, SimpleNamespace(id=5, enrollment_id=None), app.config)
    assert out.count("/t/c/") == 1 and 'href="http://localhost/u/tok"' in out and 'href="tel:+15551234"' in out
    assert out.index("/t/o/") < out.index("</body>")
    assert tracking.rewrite_html(body, SimpleNamespace(id=5, enrollment_id=None), {"SECRET_KEY": "k"}) == body


def test_a_head_request_from_a_link_checker_redirects_but_counts_as_a_machine(app, send_one):
    sent = send_one()
    response = app.test_client().head(sent.link_paths[0], headers={"User-Agent": HUMAN_UA})
    assert response.status_code == 302
    [clicked] = _events(app, "clicked")
    assert clicked.data["machine"] is True and clicked.data["machine_reason"] == "HEAD request"
