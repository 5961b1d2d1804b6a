"""The builder's previews (timeline and merge fields) and the server-rendered pages."""
from __future__ import annotations

STEPS = [
    {"day": 1, "type": "email", "subject": "Hi {{ first_name }}", "body_html": "<p>Hi</p>",
     "send_option": "at_time", "time": "09:30"},
    {"day": 3, "type": "email", "subject": "Again", "body_html": "<p>Again</p>",
     "send_option": "same_time_as_previous", "follow_up": True},
    {"day": 4, "type": "call", "notes": "talk track"},
]
START = "2026-03-02T08:00:00-05:00"


def _strip(planned):
    return [{k: s[k] for k in ("day", "position", "type", "kind", "date", "at")} for s in planned]


def test_timeline_preview_of_unsaved_steps_equals_the_saved_campaigns_timeline(app, rep, make_campaign):
    campaign = make_campaign(rep, STEPS, settings={"skip_weekends": True})
    saved = rep.get(f"/campaigns/{campaign['id']}/timeline?start={START.replace('+', '%2B')}"
                    "&timezone=America/New_York")
    preview = rep.post("/campaigns/timeline-preview", json={"steps": STEPS, "settings": {"skip_weekends": True},
                                                           "start": START, "timezone": "America/New_York"})
    assert preview.status_code == 200, preview.json
    assert _strip(preview.json["steps"]) == _strip(saved.json["steps"])
    assert preview.json["steps"][0]["at"] == "2026-03-02T09:30:00-05:00"
    assert [s["index"] for s in preview.json["steps"]] == [0, 1, 2]


def test_timeline_preview_follows_settings_as_the_rep_edits_them(app, rep):
    body = {"steps": [{"day": 1, "type": "email", "send_option": "task"}, {"day": 2, "type": "call"}],
            "start": "2026-03-06T08:00:00-05:00", "timezone": "America/New_York"}  # a Friday
    business = rep.post("/campaigns/timeline-preview", json=body | {"settings": {"skip_weekends": True}}).json
    calendar = rep.post("/campaigns/timeline-preview", json=body | {"settings": {"skip_weekends": False}}).json
    assert business["steps"][1]["date"] == "2026-03-09" and calendar["steps"][1]["date"] == "2026-03-07"


def test_timeline_preview_refuses_a_follow_up_after_a_call_naming_the_step(app, rep):
    steps = [{"day": 1, "type": "call"}, {"day": 2, "type": "email", "send_option": "at_time", "time": "10:00",
                                          "follow_up": True}]
    response = rep.post("/campaigns/timeline-preview", json={"steps": steps})
    assert response.status_code == 422 and response.json["error"]["field"] == "steps[1].follow_up"


def test_timeline_preview_names_a_malformed_field(app, rep):
    response = rep.post("/campaigns/timeline-preview",
                        json={"steps": [{"day": 1, "type": "email", "send_option": "at_time", "time": "9h"}]})
    assert response.status_code == 422 and response.json["error"]["field"] == "steps[0].time"
    assert rep.post("/campaigns/timeline-preview", json=[]).status_code == 422


def test_merge_preview_renders_with_a_sample_person_and_names_a_missing_field(app, rep):
    ok = rep.post("/templates/preview", json={"subject": "Hi {{ first_name }}",
                                               "body_html": "<p>{{ company }} &amp; {{ industry | default('tech') }}</p>"})
    assert ok.status_code == 200
    assert ok.json["subject"] == "Hi Pat" and ok.json["body_html"] == "<p>Acme &amp; tech</p>"
    missing = rep.post("/templates/preview", json={"subject": "x", "body_html": "{{ industry }}"})
    assert missing.status_code == 422 and "industry" in missing.json["error"]["message"]
    broken = rep.post("/templates/preview", json={"subject": "x", "body_html": "{{ oops"})
    assert broken.status_code == 422 and broken.json["error"]["field"] == "body_html"


def test_every_page_renders_for_a_signed_in_rep(app, rep, sign_in, make_person, make_campaign):
    person_id = make_person(rep, fields={"industry": "rockets"})
    campaign = make_campaign(rep, STEPS)
    client, _ = sign_in(rep)
    for path in ("/", "/campaigns", "/campaigns/new", f"/campaigns/{campaign['id']}", "/people", "/people?q=pat",
                 f"/people/{person_id}", "/tokens"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert 'aria-label="Live Feed"' in response.text
    assert client.get("/campaigns/999").status_code == 404
    assert client.get("/people/999").status_code == 404
    assert "rockets" in client.get(f"/people/{person_id}").text


def test_an_unknown_api_path_keeps_the_json_error(app, rep):
    response = rep.get("/nope")
    assert response.status_code == 404 and response.json["error"]["code"] == "not_found"


BAD_TIMELINE_BODIES = [
    ({"steps": "nope"}, "steps"),
    ({"steps": []}, "steps"),
    ({"steps": [{"day": 0, "type": "email", "send_option": "task"}]}, "steps[0].day"),
    ({"steps": [{"day": 1, "type": "fax"}]}, "steps[0].type"),
    ({"steps": [{"day": 1, "type": "email", "send_option": "same_time_as_previous"}]}, "steps[0].send_option"),
    ({"steps": [{"day": 1, "type": "call"}], "settings": {"holidays": "XX"}}, "settings.holidays"),
    ({"steps": [{"day": 1, "type": "call"}], "settings": {"send_window": {"start": "18:00", "end": "08:00"}}},
     "settings.send_window"),
    ({"steps": [{"day": 1, "type": "call"}], "settings": {"bogus": 1}}, "settings.bogus"),
    ({"steps": [{"day": 1, "type": "call"}], "start": "yesterday"}, "start"),
    ({"steps": [{"day": 1, "type": "call"}], "start": "2026-03-02T08:00:00"}, "start"),
    ({"steps": [{"day": 1, "type": "call"}], "timezone": "Mars/Olympus"}, "timezone"),
]


def test_timeline_preview_answers_bad_bodies_with_422_naming_the_field(app, rep):
    for body, field in BAD_TIMELINE_BODIES:
        response = rep.post("/campaigns/timeline-preview", json=body)
        assert response.status_code == 422, (body, response.json)
        assert response.json["error"]["field"] == field, (body, response.json)


def test_merge_preview_answers_bad_bodies_with_422(app, rep):
    for body in ({"subject": 5, "body_html": "x"}, {"subject": "x", "body_html": "y", "person_id": "7"},
                 {"subject": "x", "body_html": "y", "person_id": True},
                 {"subject": "x", "body_html": "y", "person_id": 10**30}, "just text"):
        assert rep.post("/templates/preview", json=body).status_code == 422, body
    assert rep.post("/templates/preview", json={"subject": "x", "body_html": "y", "person_id": 999}).status_code == 404
