"""Merge-field rendering in Jinja's sandbox (issue 2 §4), without HTTP or a database."""
from __future__ import annotations

import pytest

from server.domain.templates import (MissingMergeField, TemplateSyntaxProblem, check_syntax, merge_context, missing_field,
                                     render, render_subject, render_template)

PAT = {"email": "pat@x.example", "first_name": "Pat", "last_name": "Lee", "company": "Acme", "title": "CTO",
       "fields": {"plan": "Pro"}}


def test_standard_custom_and_sender_fields_render():
    subject, body = render_template("Hi {{ first_name }}", "<p>{{ plan }} at {{ company }} from {{ sender.name }}</p>",
                                    PAT, {"name": "Riley", "email": "r@s.example"})
    assert (subject, body) == ("Hi Pat", "<p>Pro at Acme from Riley</p>")


def test_missing_first_last_name_and_title_are_blank_and_company_is_your_company():
    assert render("[{{ first_name }}|{{ last_name }}|{{ title }}|{{ company }}]", {}) == "[|||your company]"


def test_empty_strings_count_as_missing():
    assert render("{{ company }}", merge_context({"company": ""})) == "your company"
    assert missing_field(("{{ plan }}",), {"fields": {"plan": ""}}) == "plan"


def test_any_other_missing_field_refuses_naming_the_field():
    with pytest.raises(MissingMergeField) as info:
        render("{{ plan }}", {})
    assert info.value.field == "plan"
    assert missing_field(("Hi {{ first_name }}", "{{ region }}"), {"email": "a@b.example"}) == "region"
    assert missing_field(("Hi {{ first_name }}", "{{ company }}"), {"email": "a@b.example"}) is None


def test_the_default_filter_works_on_any_missing_field():
    assert render("{{ plan | default('Starter') }}", {}) == "Starter"
    assert missing_field(("{{ plan | default('Starter') }}",), {}) is None


def test_body_html_escapes_merge_data_and_subjects_stay_on_one_line():
    assert render("{{ company }}", {"company": "<b>A&B</b>"}) == "&lt;b&gt;A&amp;B&lt;/b&gt;"
    assert render_subject("Hi {{ first_name }}", {"first_name": "Pat\r\nBcc: evil@x.example"}) == \
        "Hi Pat Bcc: evil@x.example"


@pytest.mark.parametrize("attack", [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ first_name.__class__.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ sender.__class__ }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
])
def test_sandbox_escapes_are_refused_when_the_template_is_saved_and_when_rendered(attack):
    assert check_syntax(attack) is not None
    with pytest.raises((TemplateSyntaxProblem, MissingMergeField)):
        render(attack, {"first_name": "Pat", "sender": {"name": "R"}})


def test_syntax_errors_are_reported_with_a_message():
    assert check_syntax("{{ first_name ")
    assert check_syntax("Hi {{ first_name }}") is None
    assert check_syntax("{{ plan }}") is None  # a custom field is judged per person at launch
