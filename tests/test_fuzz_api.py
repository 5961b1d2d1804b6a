"""No request yields a 500: a schema-driven fuzzer (schemathesis) over every operation of
/api/v1/openapi.json, plus hypothesis-generated junk bodies for the two richest inputs
(POST /campaigns and POST /campaigns/{id}/launch).

Bounded on purpose (a few dozen examples per operation) so the whole file runs in well under
a minute on a shared 2-core machine; every 4xx must still be the contract's error body.
"""
from __future__ import annotations

import json
import tempfile

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from server import create_app

from tests.conftest import Api

FUZZ = settings(max_examples=25, deadline=None, derandomize=True,
                suppress_health_check=list(HealthCheck))


@pytest.fixture
def seeded(app, rep: Api, make_mailbox, make_person, make_campaign) -> Api:
    """A rep with a mailbox, people, a campaign and an enrollment, so that small ids the fuzzer
    picks (1, 2...) hit real rows and reach the code behind the 404s."""
    mailbox = make_mailbox(rep)
    people = [make_person(rep) for _ in range(3)]
    campaign = make_campaign(rep, [
        {"day": 1, "type": "email", "subject": "Hi {{ first_name }}", "body_html": "<p>Hi</p>", "send_option": "task"},
        {"day": 2, "type": "email", "subject": "x", "body_html": "<p>x</p>", "send_option": "at_time",
         "time": "09:00", "follow_up": True},
        {"day": 3, "type": "call"}])
    rep.post(f"/campaigns/{campaign['id']}/launch", json={"people": people[:2], "mailbox_id": mailbox})
    return rep


def _operation_labels() -> list[str]:
    """Every operation of the OpenAPI document, read from an app that never touches a database."""
    with tempfile.TemporaryDirectory() as folder:
        app = create_app({"DATABASE_URL": f"sqlite:///{folder}/labels.db", "TESTING": True, "SECRET_KEY": "x"})
        document = app.test_client().get("/api/v1/openapi.json").json
        app.extensions["stepline_engine"].dispose()
    return [f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item
            if method in ("get", "post", "put", "patch", "delete") and not path.endswith("/events/stream")]


def _assert_error_body(response) -> None:
    if 400 <= response.status_code < 500:
        body = response.json()
        assert set(body) == {"error"}, body
        assert {"code", "message", "field"} <= set(body["error"]), body


# schemathesis' own pytest integration (from_fixture) does not run on pytest 9 yet, so each
# operation is a plain parametrized test that draws schemathesis cases with hypothesis; the
# cases are sent to the test's own WSGI app and judged by schemathesis' not_a_server_error.
@pytest.mark.parametrize("label", _operation_labels())
def test_no_api_operation_answers_500_to_generated_requests(app, seeded, label):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operation = schema.find_operation_by_label(label)
    strategy = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                         operation.as_strategy(GenerationMode.NEGATIVE))
    headers = {"Authorization": f"Bearer {seeded.token}"}

    @FUZZ
    @given(case=strategy)
    def check(case):
        response = case.call_and_validate(headers=headers, checks=[not_a_server_error])
        _assert_error_body(response)

    check()


# ---------------------------------------------------------------- hypothesis junk bodies

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63), st.floats(allow_nan=False),
                         st.text(max_size=20))
junk = st.recursive(json_scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                          st.dictionaries(st.text(max_size=12), inner, max_size=4)),
                    max_leaves=12)
step_like = st.fixed_dictionaries({}, optional={
    "day": st.one_of(st.integers(-5, 400), junk), "type": st.sampled_from(["email", "call", "inmail", "custom", "x"]),
    "send_option": st.one_of(st.sampled_from(["choose_at_launch", "at_time", "same_time_as_previous", "task"]), junk),
    "time": st.one_of(st.sampled_from(["09:30", "24:00", "9", ""]), junk), "follow_up": st.one_of(st.booleans(), junk),
    "template_id": st.one_of(st.integers(-1, 5), junk), "subject": st.one_of(st.text(max_size=30), junk),
    "body_html": st.one_of(st.sampled_from(["<p>{{ first_name }}</p>", "{{ x", "{{ ''.__class__ }}"]), junk),
    "id": st.one_of(st.integers(-1, 5), junk), "priority": st.one_of(st.sampled_from(["normal", "high"]), junk)})
campaign_like = st.one_of(junk, st.fixed_dictionaries({}, optional={
    "name": st.one_of(st.text(max_size=10), junk), "steps": st.one_of(st.lists(step_like, max_size=4), junk),
    "settings": st.one_of(junk, st.fixed_dictionaries({}, optional={
        "skip_weekends": junk, "holidays": st.one_of(st.sampled_from(["US", "FR", "XX", "us"]), junk),
        "timezone": st.one_of(st.sampled_from(["sender", "recipient"]), junk),
        "send_window": st.one_of(st.fixed_dictionaries({"start": st.text(max_size=6), "end": st.text(max_size=6)}),
                                 junk)}))}))
launch_like = st.one_of(junk, st.fixed_dictionaries({}, optional={
    "people": st.one_of(st.lists(st.one_of(st.integers(-3, 8), junk), max_size=6), junk),
    "mailbox_id": st.one_of(st.integers(-1, 3), junk), "start_date": st.one_of(st.dates().map(str), junk),
    "send_at": st.one_of(st.sampled_from(["now", "2026-03-04T10:00:00-05:00", "2026-03-04T10:00:00", "x"]), junk),
    "step_times": st.one_of(st.dictionaries(st.sampled_from(["1", "2", "3", "x"]),
                                            st.sampled_from(["09:00", "99:99", ""]), max_size=3), junk)}))


def _post_raw(api: Api, path: str, body) -> None:
    response = api.client.post("/api/v1" + path, data=json.dumps(body), content_type="application/json",
                               headers={"Authorization": f"Bearer {api.token}"})
    assert response.status_code < 500, (body, response.status_code, response.get_data(as_text=True)[:500])
    _assert_error_body_flask(response)


def _assert_error_body_flask(response) -> None:
    if response.status_code >= 400:
        assert set(response.json["error"]) == {"code", "message", "field"}, response.json


@FUZZ
@given(body=campaign_like)
def test_junk_campaign_bodies_never_answer_500(seeded, body):
    _post_raw(seeded, "/campaigns", body)


@FUZZ
@given(body=launch_like)
def test_junk_launch_bodies_never_answer_500(seeded, body):
    _post_raw(seeded, "/campaigns/1/launch", body)


@FUZZ
@given(body=campaign_like)
def test_junk_campaign_patches_never_answer_500(seeded, body):
    response = seeded.client.patch("/api/v1/campaigns/1", data=json.dumps(body), content_type="application/json",
                                   headers={"Authorization": f"Bearer {seeded.token}"})
    assert response.status_code < 500, (body, response.get_data(as_text=True)[:500])
    _assert_error_body_flask(response)
