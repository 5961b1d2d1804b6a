"""Salesforce sync through the real simple-salesforce client; only HTTP is faked (`responses`),
with bodies shaped like Salesforce's documented ones (OAuth token response, sobject create
``{"id", "success", "errors"}``, SOQL query results, error arrays ``[{"message", "errorCode"}]``)."""
from __future__ import annotations

import json
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from server.adapters import salesforce
from server.models import CrmOutbox, Task, User
from server.services import crm_sync
from server.services.dispatch import run_pass as dispatch_pass
from tests.adapters.sink import smtp_sink  # noqa: F401 - fixture

TOKEN_URL = "https://login.salesforce.com/services/oauth2/token"
INSTANCE = "https://acme.my.salesforce.com"
API = f"{INSTANCE}/services/data/v59.0"
SUBJECT_TEMPLATE = "[{{sales_campaign_name}} day {{ sales_campaign_day }} step {{sales_campaign_step}}] {{activity_subject}}"


@pytest.fixture(scope="module")
def private_key() -> tuple[str, object]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return pem, key.public_key()


class FakeOrg:
    """A Salesforce org over `responses`: contacts, leads, tasks, and switchable failures."""

    def __init__(self, mock: responses.RequestsMock, public_key) -> None:
        self.public_key = public_key
        self.contacts = {"003Dn00000ContAAA": {"Email": "pat@prospect.example", "HasOptedOutOfEmail": False}}
        self.leads: dict[str, dict] = {}
        self.tasks: dict[str, dict] = {}
        self.users: dict[str, dict] = {}  # Salesforce Users: Id -> {"Email", "IsActive"}
        self.queries: list[str] = []  # every SOQL statement received, in order
        self.creates: list[dict] = []  # every Task create body received, accepted or not
        self.token_requests = 0
        self.failures: list[tuple[int, list[dict] | str]] = []  # served before the next REST answers
        self.token_down = False
        self.valid_token = "00DDn000000Acme!AQ4AQ.first"
        mock.add_callback(responses.POST, TOKEN_URL, callback=self._token)
        mock.add_callback(responses.GET, re.compile(rf"{re.escape(API)}/query/.*"),
                          callback=lambda request: self._query(request))
        mock.add_callback(responses.POST, f"{API}/sobjects/Task/", callback=lambda request: self._create_task(request))
        mock.add_callback(responses.PATCH, re.compile(rf"{re.escape(API)}/sobjects/(Task|Contact|Lead)/\w+"),
                          callback=self._update)

    def _token(self, request):
        self.token_requests += 1
        if self.token_down:
            return 503, {"Content-Type": "text/html"}, "<html><body>Service Unavailable</body></html>"
        form = parse_qs(request.body)
        assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
        claims = jwt.decode(form["assertion"][0], self.public_key, algorithms=["RS256"],
                            audience="https://login.salesforce.com")
        assert claims["iss"] == "3MVG9stepline" and claims["sub"] == "integration@acme.example"
        self.valid_token = f"00DDn000000Acme!AQ4AQ.{self.token_requests}"
        return 200, {"Content-Type": "application/json"}, json.dumps({
            "access_token": self.valid_token, "scope": "api", "instance_url": INSTANCE,
            "id": "https://login.salesforce.com/id/00DDn000000AcmeMAE/005Dn000000IntgIAC",
            "token_type": "Bearer"})

    def _failure(self, request):
        if request.headers.get("Authorization") != f"Bearer {self.valid_token}":
            return 401, {}, json.dumps([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
        if self.failures:
            status, body = self.failures.pop(0)
            return status, {"Content-Type": "application/json"}, body if isinstance(body, str) else json.dumps(body)
        return None

    def _query(self, request):
        failed = self._failure(request)
        if failed:
            return failed
        soql = parse_qs(urlsplit(request.url).query)["q"][0]
        self.queries.append(soql)
        if " FROM User " in soql:
            email = re.search(r"Email = '((?:[^'\\]|\\.)*)'", soql).group(1).replace("\\'", "'")
            records = [{"attributes": {"type": "User", "url": f"/services/data/v59.0/sobjects/User/{i}"}, "Id": i}
                       for i, row in self.users.items() if row["Email"].lower() == email.lower()
                       and (row["IsActive"] or "IsActive = true" not in soql)][:1]
        elif " FROM Task " in soql:
            ids = re.findall(r"'(\w+)'", soql)
            records = [{"attributes": {"type": "Task", "url": f"/services/data/v59.0/sobjects/Task/{i}"}, "Id": i,
                        "Status": self.tasks[i]["Status"], "IsClosed": self.tasks[i]["Status"] == "Completed"}
                       for i in ids if i in self.tasks]
        else:
            sobject = "Contact" if " FROM Contact " in soql else "Lead"
            email = re.search(r"Email = '([^']*)'", soql).group(1)
            table = self.contacts if sobject == "Contact" else self.leads
            records = [{"attributes": {"type": sobject, "url": f"/services/data/v59.0/sobjects/{sobject}/{i}"},
                        "Id": i} for i, row in table.items() if row["Email"] == email]
        return 200, {}, json.dumps({"totalSize": len(records), "done": True, "records": records})

    def _create_task(self, request):
        failed = self._failure(request)
        if failed:
            return failed
        fields = json.loads(request.body)
        self.creates.append(dict(fields))
        owner = fields.get("OwnerId")
        if owner is not None and owner not in self.users:  # Salesforce's answers for a bad owner
            return 400, {}, json.dumps([{"message": "invalid cross reference id",
                                         "errorCode": "INVALID_CROSS_REFERENCE_KEY", "fields": []}])
        if owner is not None and not self.users[owner]["IsActive"]:
            message = f"operation performed with inactive user [{owner}] as owner of task"
            return 400, {}, json.dumps([{"message": message, "errorCode": "INACTIVE_OWNER_OR_USER", "fields": []}])
        task_id = f"00TDn{len(self.tasks) + 1:013d}"[:18]
        self.tasks[task_id] = fields
        return 201, {}, json.dumps({"id": task_id, "success": True, "errors": []})

    def _update(self, request):
        failed = self._failure(request)
        if failed:
            return failed
        sobject, record_id = urlsplit(request.url).path.rsplit("/", 2)[-2:]
        table = {"Task": self.tasks, "Contact": self.contacts, "Lead": self.leads}[sobject]
        table[record_id].update(json.loads(request.body))
        return 204, {}, ""


@pytest.fixture
def org(app, private_key):
    app.config.update(SALESFORCE_USERNAME="integration@acme.example", SALESFORCE_CONSUMER_KEY="3MVG9stepline",
                      SALESFORCE_PRIVATE_KEY=private_key[0], SALESFORCE_DOMAIN="login",
                      SALESFORCE_TASK_SUBJECT=SUBJECT_TEMPLATE)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield FakeOrg(mock, private_key[1])


@pytest.fixture
def launched(app, rep, make_mailbox, make_person, make_campaign, smtp_sink):
    """Pat in a campaign whose first step is an email task and whose second an automatic email."""
    mailbox = make_mailbox(rep, port=smtp_sink.port)
    person = make_person(rep, email="pat@prospect.example")
    campaign = make_campaign(rep, [
        {"day": 1, "type": "email", "subject": "Intro for {{ first_name }}\nline two", "body_html": "<p>Hi</p>",
         "send_option": "task"},
        {"day": 3, "type": "email", "subject": "Checking in", "body_html": "<p>Again</p>", "send_option": "at_time",
         "time": "09:00"}], name="Q1 outbound")
    response = rep.post(f"/campaigns/{campaign['id']}/launch", json={"people": [person], "mailbox_id": mailbox})
    assert response.json["enrolled"], response.json
    [task] = rep.get("/tasks?status=open&due=all").json["tasks"]
    return {"campaign": campaign, "person": person, "task": task}


def _outbox(app) -> list[CrmOutbox]:
    with app.extensions["stepline_sessions"]() as session:
        return list(session.scalars(select(CrmOutbox).order_by(CrmOutbox.id)))


def test_an_email_task_and_then_its_sent_email_become_salesforce_tasks_with_the_subject_template(
        app, org, rep, clock, launched):
    counts = crm_sync.run_pass(app)
    assert counts["done"] == 1 and org.token_requests == 1
    [(task_id, fields)] = org.tasks.items()
    assert fields["Subject"] == "[Q1 outbound day 1 step 1] Intro for Pat line two"  # one line
    assert fields["Status"] == "Not Started" and fields["WhoId"] == "003Dn00000ContAAA"
    assert fields["ActivityDate"] == "2026-03-02" and fields["TaskSubtype"] == "Email"

    sent = rep.post(f"/tasks/{launched['task']['id']}/send", json={})
    assert sent.status_code in (200, 201), sent.json
    assert dispatch_pass(app) == 1
    crm_sync.run_pass(app)
    assert org.tasks[task_id]["Status"] == "Completed"  # completed in Stepline -> Completed
    assert len(org.tasks) == 2
    email_task = [f for i, f in org.tasks.items() if i != task_id][0]
    assert email_task["Status"] == "Completed" and email_task["Subject"].endswith("Intro for Pat line two")
    assert "To: pat@prospect.example" in email_task["Description"]
    assert all(row.status == "done" for row in _outbox(app))
    crm_sync.run_pass(app)  # nothing new: nothing written twice
    assert len(org.tasks) == 2


def test_a_salesforce_outage_never_blocks_sending_and_every_write_arrives_after_recovery(
        app, org, rep, clock, launched, smtp_sink):
    org.token_down = True
    counts = crm_sync.run_pass(app)
    assert counts["retry"] == 1 and org.tasks == {}
    rep.post(f"/tasks/{launched['task']['id']}/send", json={})
    assert dispatch_pass(app) == 1 and len(smtp_sink.received) == 1  # the email left anyway
    crm_sync.run_pass(app)  # still down, and the first row's backoff has not passed
    rows = _outbox(app)
    assert [r.status for r in rows] == ["pending"] * 3
    assert rows[0].attempts == 1 and "sign-in to Salesforce failed" in rows[0].last_error
    assert rows[0].next_attempt_at == clock.now() + timedelta(seconds=30)

    clock.advance(seconds=31)
    crm_sync.run_pass(app)
    assert _outbox(app)[0].attempts == 2  # the second failure doubles the wait
    assert _outbox(app)[0].next_attempt_at == clock.now() + timedelta(seconds=60)

    org.token_down = False
    clock.advance(seconds=61)
    counts = crm_sync.run_pass(app)
    assert counts["done"] == 3 and all(r.status == "done" for r in _outbox(app))
    assert sorted(f["Status"] for f in org.tasks.values()) == ["Completed", "Completed"]


def test_a_503_in_the_middle_of_a_batch_stops_the_pass_and_the_next_pass_writes_each_record_once(
        app, org, rep, clock, launched):
    rep.post(f"/tasks/{launched['task']['id']}/send", json={})
    dispatch_pass(app)
    # The first create works; the contact lookup of the second gets a 503 (maintenance).
    original = org._query
    calls = {"n": 0}

    def flaky(request):
        calls["n"] += 1
        if calls["n"] == 4:  # Contact, Lead and the rep's User lookups of the first row, then this one fails
            return 503, {}, json.dumps([{"message": "Server temporarily unavailable", "errorCode": "SERVER_UNAVAILABLE"}])
        return original(request)

    org._query = flaky
    counts = crm_sync.run_pass(app)
    assert counts["done"] == 1 and counts["retry"] == 1 and len(org.tasks) == 1
    assert "SERVER_UNAVAILABLE" in [r for r in _outbox(app) if r.status == "pending"][0].last_error
    clock.advance(minutes=2)
    counts = crm_sync.run_pass(app)
    assert all(r.status == "done" for r in _outbox(app)) and len(org.tasks) == 2


def test_an_expired_session_signs_in_again_and_the_write_goes_through_in_the_same_pass(app, org, launched):
    crm_sync.run_pass(app)
    assert org.token_requests == 1
    org.valid_token = "revoked"  # Salesforce ended the session: INVALID_SESSION_ID
    rep_task_id = launched["task"]["id"]
    with app.extensions["stepline_sessions"]() as session:
        session.get(Task, rep_task_id).status = "skipped"
        session.commit()
    counts = crm_sync.run_pass(app)
    assert counts["done"] == 1 and org.token_requests == 2  # the kept session was dead: one new sign-in
    assert list(org.tasks.values())[0]["Status"] == "Completed"


def test_request_limit_exceeded_is_retried_with_growing_waits(app, org, clock, launched):
    limit = [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    org.failures = [(403, limit), (403, limit), (403, limit), (403, limit)]
    crm_sync.run_pass(app)
    [row] = _outbox(app)
    assert row.status == "pending" and row.attempts == 1 and "REQUEST_LIMIT_EXCEEDED" in row.last_error
    clock.advance(seconds=30)
    crm_sync.run_pass(app)
    [row] = _outbox(app)
    assert row.attempts == 2 and row.next_attempt_at == clock.now() + timedelta(seconds=60)
    clock.advance(seconds=60)
    org.failures = []
    crm_sync.run_pass(app)
    assert _outbox(app)[0].status == "done" and len(org.tasks) == 1


def test_a_permanent_error_stops_with_salesforces_reason_shown_to_admins_who_can_retry(
        app, org, admin, rep, clock, launched):
    org.failures = [(200, {"totalSize": 0, "done": True, "records": []}),  # Contact
                    (200, {"totalSize": 0, "done": True, "records": []}),  # Lead
                    (200, {"totalSize": 0, "done": True, "records": []}),  # the rep's Salesforce User
                    (400, [{"message": "No such column 'TaskSubtype' on sobject of type Task",
                            "errorCode": "INVALID_FIELD"}])]
    counts = crm_sync.run_pass(app)
    assert counts["failed"] == 1
    listed = admin.get("/crm/outbox?status=failed")
    assert listed.status_code == 200 and listed.json["enabled"] is True
    [row] = listed.json["outbox"]
    assert row["kind"] == "task_create" and row["last_error"].startswith("INVALID_FIELD: No such column")
    assert rep.get("/crm/outbox").status_code == 403
    assert admin.get("/crm/outbox?status=nope").json["error"]["field"] == "status"
    assert admin.post("/crm/outbox/999/retry").status_code == 404
    assert admin.post(f"/crm/outbox/{row['id']}/retry").json["status"] == "pending"
    crm_sync.run_pass(app)
    assert _outbox(app)[0].status == "done" and len(org.tasks) == 1


def test_a_task_completed_in_salesforce_completes_the_stepline_task_and_advances_the_enrollment(
        app, org, rep, clock, launched):
    crm_sync.run_pass(app)
    [task_id] = org.tasks
    org.tasks[task_id]["Status"] = "Completed"  # the rep ticked it in Salesforce
    clock.advance(seconds=61)
    counts = crm_sync.run_pass(app)
    assert counts["pulled"] == 1
    assert rep.get("/tasks?status=open&due=all").json["tasks"] == []
    enrollment = rep.get("/emails?status=scheduled").json["emails"]
    assert [e["step_id"] for e in enrollment] == [launched["campaign"]["steps"][1]["id"]]
    crm_sync.run_pass(app)
    assert org.tasks[task_id]["Status"] == "Completed"  # no echo back and forth


def test_unsubscribe_and_resubscribe_set_the_contacts_email_opt_out(app, org, rep, admin, launched):
    rep.post(f"/people/{launched['person']}/unsubscribe")
    crm_sync.run_pass(app)
    assert org.contacts["003Dn00000ContAAA"]["HasOptedOutOfEmail"] is True
    admin.post(f"/people/{launched['person']}/resubscribe")
    crm_sync.run_pass(app)
    assert org.contacts["003Dn00000ContAAA"]["HasOptedOutOfEmail"] is False


def test_without_salesforce_configured_nothing_is_queued_or_called(app, rep, make_person):
    person = make_person(rep)
    rep.post(f"/people/{person}/unsubscribe")
    with responses.RequestsMock() as mock:  # any HTTP call would fail the test
        assert crm_sync.run_pass(app) == {}
        assert len(mock.calls) == 0
    assert _outbox(app) == []


def test_the_subject_template_is_one_line_and_at_most_255_characters():
    values = {"activity_subject": "Hello\r\nthere\tfriend", "sales_campaign_name": "Q1", "sales_campaign_day": 3,
              "sales_campaign_step": 2}
    assert crm_sync.render_subject("{{sales_campaign_name}}/{{sales_campaign_day}}/{{sales_campaign_step}}: "
                                   "{{activity_subject}}", values) == "Q1/3/2: Hello there friend"
    assert len(crm_sync.render_subject("{{activity_subject}}", {"activity_subject": "x" * 400})) == 255
    assert crm_sync.render_subject("", {"activity_subject": "Plain"}) == "Plain"


# --- Task owner: the rep's Salesforce User, found by email ---------------------------------------

REP_SOQL = "SELECT Id FROM User WHERE Email = 'rep@example.com' AND IsActive = true LIMIT 1"


def _user_queries(org: FakeOrg) -> list[str]:
    return [q for q in org.queries if " FROM User " in q]


def _stepline_user(app, user_id: int) -> User:
    with app.extensions["stepline_sessions"]() as session:
        user = session.get(User, user_id)
        session.expunge(user)
        return user


def _send_task_and_dispatch(app, rep, launched) -> None:
    sent = rep.post(f"/tasks/{launched['task']['id']}/send", json={})
    assert sent.status_code in (200, 201), sent.json
    assert dispatch_pass(app) == 1


def test_tasks_and_sent_emails_are_owned_by_the_reps_salesforce_user_found_once_by_email(
        app, org, rep, clock, launched):
    org.users = {"005Dn000000OldRAAA": {"Email": "Rep@Example.com", "IsActive": False},  # a former account
                 "005Dn000000RepAAAA": {"Email": "Rep@Example.com", "IsActive": True}}
    assert crm_sync.run_pass(app)["done"] == 1
    assert _user_queries(org) == [REP_SOQL]
    [fields] = org.creates
    assert fields["OwnerId"] == "005Dn000000RepAAAA" and fields["WhoId"] == "003Dn00000ContAAA"
    assert _stepline_user(app, rep.user_id).salesforce_user_id == "005Dn000000RepAAAA"

    _send_task_and_dispatch(app, rep, launched)
    crm_sync.run_pass(app)
    assert len(org.creates) == 2 and org.creates[1]["Status"] == "Completed"  # the sent email
    assert org.creates[1]["OwnerId"] == "005Dn000000RepAAAA"
    assert _user_queries(org) == [REP_SOQL]  # the mapping is kept: no second lookup
    assert all(row.status == "done" for row in _outbox(app))


def test_a_rep_with_no_active_salesforce_user_gets_the_integration_user_and_is_looked_up_again_a_day_later(
        app, org, rep, clock, launched):
    org.users = {"005Dn000000RepAAAA": {"Email": "rep@example.com", "IsActive": False}}
    assert crm_sync.run_pass(app)["done"] == 1
    assert "OwnerId" not in org.creates[0] and _user_queries(org) == [REP_SOQL]
    user = _stepline_user(app, rep.user_id)
    assert user.salesforce_user_id is None and user.salesforce_user_checked_at == clock.now()

    _send_task_and_dispatch(app, rep, launched)
    crm_sync.run_pass(app)
    assert "OwnerId" not in org.creates[1]
    assert _user_queries(org) == [REP_SOQL]  # "no match" is remembered too

    org.users["005Dn000000RepAAAA"]["IsActive"] = True  # the admin reactivates the rep's account
    clock.advance(days=2, hours=2)  # the day-3 email is due, and more than a day has passed
    assert dispatch_pass(app) == 1
    crm_sync.run_pass(app)
    assert _user_queries(org) == [REP_SOQL, REP_SOQL]
    assert org.creates[2]["OwnerId"] == "005Dn000000RepAAAA"
    assert [f["Status"] for f in org.creates] == ["Not Started", "Completed", "Completed"]


def test_an_owner_id_salesforce_does_not_know_is_forgotten_and_the_task_is_created_without_it(
        app, org, rep, clock, launched):
    with app.extensions["stepline_sessions"]() as session:  # mapped earlier; the User was deleted since
        user = session.get(User, rep.user_id)
        user.salesforce_user_id, user.salesforce_user_checked_at = "005Dn000000GoneAAA", clock.now()
        session.commit()
    counts = crm_sync.run_pass(app)
    assert counts["done"] == 1 and counts["failed"] == 0
    assert [c.get("OwnerId") for c in org.creates] == ["005Dn000000GoneAAA", None]
    [fields] = org.tasks.values()
    assert "OwnerId" not in fields and fields["WhoId"] == "003Dn00000ContAAA"
    user = _stepline_user(app, rep.user_id)
    assert user.salesforce_user_id is None and user.salesforce_user_checked_at == clock.now()

    _send_task_and_dispatch(app, rep, launched)
    crm_sync.run_pass(app)
    assert len(org.creates) == 3 and "OwnerId" not in org.creates[2]  # no more refused attempts
    assert _user_queries(org) == []  # nor a lookup before a day has passed
    assert all(row.status == "done" for row in _outbox(app))


def test_a_salesforce_user_deactivated_after_mapping_is_dropped_and_later_tasks_still_arrive(
        app, org, rep, clock, launched):
    org.users = {"005Dn000000RepAAAA": {"Email": "rep@example.com", "IsActive": True}}
    crm_sync.run_pass(app)
    assert org.creates[0]["OwnerId"] == "005Dn000000RepAAAA"
    org.users["005Dn000000RepAAAA"]["IsActive"] = False  # the rep left; Salesforce answers INACTIVE_OWNER_OR_USER
    _send_task_and_dispatch(app, rep, launched)
    counts = crm_sync.run_pass(app)
    assert counts["done"] == 2 and counts["failed"] == 0  # the status update and the sent email
    assert [c.get("OwnerId") for c in org.creates[1:]] == ["005Dn000000RepAAAA", None]
    assert len(org.tasks) == 2
    assert _stepline_user(app, rep.user_id).salesforce_user_id is None


def test_an_outage_right_after_a_refused_owner_is_retried_without_looking_up_or_sending_the_owner_again(
        app, org, rep, clock, launched):
    with app.extensions["stepline_sessions"]() as session:
        user = session.get(User, rep.user_id)
        user.salesforce_user_id, user.salesforce_user_checked_at = "005Dn000000GoneAAA", clock.now()
        session.commit()
    original = org._create_task
    calls = {"n": 0}

    def unavailable_second(request):
        calls["n"] += 1
        if calls["n"] == 2:  # the create without OwnerId meets maintenance
            return 503, {}, json.dumps([{"message": "Server temporarily unavailable",
                                         "errorCode": "SERVER_UNAVAILABLE", "fields": []}])
        return original(request)

    org._create_task = unavailable_second
    counts = crm_sync.run_pass(app)
    assert counts["retry"] == 1 and org.tasks == {}
    [row] = _outbox(app)
    assert row.status == "pending" and row.attempts == 1 and "SERVER_UNAVAILABLE" in row.last_error
    assert _stepline_user(app, rep.user_id).salesforce_user_id is None  # the forgotten mapping stays forgotten
    clock.advance(seconds=30)
    assert crm_sync.run_pass(app)["done"] == 1
    [fields] = org.tasks.values()
    assert "OwnerId" not in fields and calls["n"] == 3 and _user_queries(org) == []


def test_a_permanent_error_that_is_not_about_the_owner_still_fails_the_row_with_salesforces_reason(
        app, org, rep, launched):
    org.users = {"005Dn000000RepAAAA": {"Email": "rep@example.com", "IsActive": True}}
    org.failures = [(200, {"totalSize": 0, "done": True, "records": []}),  # Contact
                    (200, {"totalSize": 0, "done": True, "records": []}),  # Lead
                    (200, {"totalSize": 1, "done": True, "records": [  # the rep's Salesforce User
                        {"attributes": {"type": "User", "url": "/services/data/v59.0/sobjects/User/005Dn000000RepAAAA"},
                         "Id": "005Dn000000RepAAAA"}]}),
                    (400, [{"message": "Subject: data value too large", "errorCode": "STRING_TOO_LONG",
                            "fields": ["Subject"]}])]
    assert crm_sync.run_pass(app)["failed"] == 1
    [row] = _outbox(app)
    assert row.last_error == "STRING_TOO_LONG: Subject: data value too large"
    assert _stepline_user(app, rep.user_id).salesforce_user_id == "005Dn000000RepAAAA"  # not blamed on the owner


def test_the_user_lookup_quotes_the_email_address_in_soql(app, org):
    org.users = {"005Dn000000OBriAAA": {"Email": "o'brien@example.com", "IsActive": True}}
    client = salesforce.connect(app.config)
    assert salesforce.find_user(client, "o'brien@example.com") == "005Dn000000OBriAAA"
    assert salesforce.find_user(client, "x' OR Email != 'y") is None
    assert _user_queries(org) == [
        "SELECT Id FROM User WHERE Email = 'o\\'brien@example.com' AND IsActive = true LIMIT 1",
        "SELECT Id FROM User WHERE Email = 'x\\' OR Email != \\'y' AND IsActive = true LIMIT 1"]
