"""Open and click tracking: signed tokens, link rewriting, and telling people from machines.

Why tokens and a stored link list: a tracking URL must not be an open redirect, and a
guessed or edited URL must not create fake opens. A token is signed with the app's
SECRET_KEY (itsdangerous) and carries only the email id (and, for a click, the index of the
link); the redirect target is read from ``Email.tracked_links``, the links of the email as it
was sent, so a click can only ever lead to a URL that was in that email.

Why "machine" opens: image proxies and link scanners (Gmail's image proxy, Yahoo's proxy,
Microsoft Defender Safe Links, Barracuda, Proofpoint, Mimecast...) fetch pixels and links
without a human, often within seconds of delivery. They are recorded (the Live Feed shows
them) but flagged ``machine: true`` and left out of the open and click counts in the stats.

Why the sender is suppressed: a rep who looks at their own sent email (or clicks its links
to check them) is not an engaged prospect. A request that carries the sender's signed-in
web session (Flask session ``uid``, see server/web/session.py) or the signed ``stepline_sender`` cookie
(:func:`set_sender_cookie`, set by the web app at sign-in) records nothing.
"""
from __future__ import annotations

import html
import re
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Mapping

from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.orm import object_session
from sqlalchemy.orm.util import identity_key

from server.models import Campaign, Email, Enrollment

OPEN_SALT = "track-open"
CLICK_SALT = "track-click"
SENDER_SALT = "tracking-sender"
SENDER_COOKIE = "stepline_sender"
# Opens and clicks this soon after the send are scanners at the receiving gateway.
MACHINE_WINDOW = timedelta(seconds=5)

# Lower-case fragments of the user agents of image proxies, link scanners and HTTP libraries.
# (Plain substring tests: this runs on every pixel request and a big regex showed up in the profile.)
MACHINE_AGENT_MARKERS = (
    "googleimageproxy", "ggpht.com", "yahoomailproxy", "slurp", "safelinks", "safe links", "safe-links",
    "defender", "protocol discovery", "bingpreview", "barracuda", "proofpoint", "mimecast", "symantec",
    "messagelabs", "trendmicro", "trend micro", "forcepoint", "sophos", "fireeye", "ironport", "cisco",
    "zscaler", "cloudmark", "spamassassin", "headlesschrome", "phantomjs", "python-requests", "python-urllib",
    "aiohttp", "httpx", "go-http-client", "curl/", "wget", "libwww", "java/", "okhttp", "axios", "node-fetch",
    "bot/", "bot;", "bot)", "crawler", "spider", "scanner", "preview")
_ANCHOR_HREF = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE | re.DOTALL)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)

# A transparent 1x1 GIF.
PIXEL_GIF = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
             b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")


def _serializer(config: Mapping[str, Any], salt: str) -> URLSafeSerializer:
    return _cached_serializer(config["SECRET_KEY"], salt)


@lru_cache(maxsize=32)
def _cached_serializer(secret: str, salt: str) -> URLSafeSerializer:
    """Serializers are immutable; building one per pixel request showed up in the profile."""
    return URLSafeSerializer(secret, salt=salt)


def open_token(config: Mapping[str, Any], email_id: int) -> str:
    return _serializer(config, OPEN_SALT).dumps(email_id)


def click_token(config: Mapping[str, Any], email_id: int, index: int) -> str:
    return _serializer(config, CLICK_SALT).dumps([email_id, index])


def read_open_token(config: Mapping[str, Any], token: str) -> int | None:
    """The email id of a genuine open token; None for anything forged, edited or malformed."""
    try:
        value = _serializer(config, OPEN_SALT).loads(token)
    except BadData:
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def read_click_token(config: Mapping[str, Any], token: str) -> tuple[int, int] | None:
    try:
        value = _serializer(config, CLICK_SALT).loads(token)
    except BadData:
        return None
    if (isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) and not isinstance(v, bool)
                                                           for v in value) and value[1] >= 0):
        return value[0], value[1]
    return None


def sender_cookie_value(config: Mapping[str, Any], user_id: int) -> str:
    return _serializer(config, SENDER_SALT).dumps(user_id)


def sender_from_cookie(config: Mapping[str, Any], raw: str | None) -> int | None:
    if not raw:
        return None
    try:
        value = _serializer(config, SENDER_SALT).loads(raw)
    except BadData:
        return None
    return value if isinstance(value, int) else None


def set_sender_cookie(response: Any, user_id: int, config: Mapping[str, Any]) -> None:
    """Mark this browser as the rep's own, so their views of their own emails are not counted.

    The pixel is loaded from inside a webmail page (a cross-site request), so the cookie needs
    ``SameSite=None``, which browsers only accept with ``Secure``: on plain http it falls back to
    Lax (clicks are still recognised, pixel loads are not)."""
    secure = str(config.get("PUBLIC_BASE_URL", "")).startswith("https://")
    response.set_cookie(SENDER_COOKIE, sender_cookie_value(config, user_id), max_age=365 * 24 * 3600,
                        httponly=True, secure=secure, samesite="None" if secure else "Lax", path="/t/")


def is_machine(user_agent: str | None, sent_at: datetime | None, now: datetime) -> tuple[bool, str | None]:
    """(machine?, why) for one pixel or link request."""
    if not user_agent or not user_agent.strip():
        return True, "no user agent"
    lowered = user_agent.lower()
    if any(marker in lowered for marker in MACHINE_AGENT_MARKERS):
        return True, "known proxy or scanner"
    if sent_at is not None and now - sent_at < MACHINE_WINDOW:
        return True, "seconds after delivery"
    return False, None


def _switches(email: Any) -> tuple[bool, bool]:
    """The campaign's track_opens / track_clicks; emails outside a campaign are tracked."""
    session = object_session(email) if isinstance(email, Email) else None
    enrollment_id = getattr(email, "enrollment_id", None)
    if session is None or enrollment_id is None:
        return True, True
    # The dispatcher has the enrollment and its campaign loaded already: no query per send.
    enrollment = session.identity_map.get(identity_key(Enrollment, enrollment_id))
    if enrollment is not None and "campaign" in enrollment.__dict__ and enrollment.campaign is not None:
        return bool(enrollment.campaign.track_opens), bool(enrollment.campaign.track_clicks)
    row = session.execute(select(Campaign.track_opens, Campaign.track_clicks)
                          .join(Enrollment, Enrollment.campaign_id == Campaign.id)
                          .where(Enrollment.id == enrollment_id)).first()
    return (bool(row.track_opens), bool(row.track_clicks)) if row else (True, True)


def rewrite_html(body_html: str, email: Any, config: Mapping[str, Any]) -> str:
    """The HTML to send: links through signed click redirects, an open pixel at the end.

    Called by the message builder for each send. The links are stored on the email
    (``tracked_links``) in the order their tokens number them, so the click endpoint
    redirects only to them. Nothing is rewritten when PUBLIC_BASE_URL is unset or the
    campaign turned tracking off."""
    base = str(config.get("PUBLIC_BASE_URL") or "").rstrip("/")
    email_id = getattr(email, "id", None)
    if not base or email_id is None:
        return body_html
    track_opens, track_clicks = _switches(email)
    unsubscribe_prefix = base + "/u/"
    out = body_html
    if track_clicks:
        links: list[str] = []

        def _swap(match: re.Match[str]) -> str:
            raw = match.group(2) if match.group(2) is not None else match.group(3)
            url = html.unescape(raw).strip()
            if not url.lower().startswith(("http://", "https://")) or url.startswith(unsubscribe_prefix):
                return match.group(0)
            links.append(url)
            tracked = f"{base}/t/c/{click_token(config, email_id, len(links) - 1)}"
            return f'{match.group(1)}"{html.escape(tracked)}"'

        out = _ANCHOR_HREF.sub(_swap, out)
        if isinstance(email, Email) and (links or email.tracked_links):
            email.tracked_links = links  # no write at all for the many emails without links
    if track_opens:
        pixel = (f'<img src="{base}/t/o/{open_token(config, email_id)}.gif" width="1" height="1" alt="" '
                 f'style="border:0;width:1px;height:1px">')
        ends = list(_BODY_END.finditer(out))
        out = out[:ends[-1].start()] + pixel + out[ends[-1].start():] if ends else out + pixel
    return out


def extract_links(body_html: str, base_url: str = "") -> list[str]:
    """The trackable links of an HTML body in order (the fallback when none were stored)."""
    prefix = base_url.rstrip("/") + "/u/" if base_url else None
    links = []
    for match in _ANCHOR_HREF.finditer(body_html):
        url = html.unescape(match.group(2) if match.group(2) is not None else match.group(3)).strip()
        if url.lower().startswith(("http://", "https://")) and not (prefix and url.startswith(prefix)):
            links.append(url)
    return links
