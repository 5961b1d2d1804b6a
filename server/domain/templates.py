"""Merge-field rendering in Jinja2's sandbox.

Why the custom ``Undefined``: a missing first name, last name or title should render blank and
a missing company should read "your company" (SPEC, issue 2), but any other missing field
must stop the email rather than send "Hi ," to a prospect. Jinja's ``default`` filter still
works on all of them, because they stay ``Undefined`` objects until they are printed.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Mapping

from jinja2 import StrictUndefined, TemplateError, meta
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

BLANK_WHEN_MISSING = frozenset({"first_name", "last_name", "title"})
FALLBACKS = {"company": "your company"}
STANDARD_FIELDS = ("email", "first_name", "last_name", "company", "title")


class MissingMergeField(Exception):
    """A template used a field the person does not have."""

    def __init__(self, field: str) -> None:
        super().__init__(f"missing merge field '{field}'")
        self.field = field


class TemplateSyntaxProblem(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _MergeUndefined(StrictUndefined):
    """Printing decides: blank, a fallback, or a refusal naming the field."""

    __slots__ = ()

    def __str__(self) -> str:
        if self._undefined_exception is SecurityError:
            # The sandbox hides an unsafe attribute behind an Undefined: refuse, never blank it.
            self._fail_with_undefined_error()
        name = self._undefined_name or ""
        if name in BLANK_WHEN_MISSING:
            return ""
        if name in FALLBACKS:
            return FALLBACKS[name]
        raise MissingMergeField(name)

    def __bool__(self) -> bool:
        return False

    def __iter__(self):  # type: ignore[override]
        return iter(())

    def __len__(self) -> int:
        return 0


def _environment(autoescape: bool) -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(undefined=_MergeUndefined, autoescape=autoescape)


_HTML = _environment(True)
_TEXT = _environment(False)


@lru_cache(maxsize=512)
def _compile(source: str, html: bool):
    env = _HTML if html else _TEXT
    try:
        return env.from_string(source)
    except TemplateError as exc:
        raise TemplateSyntaxProblem(str(exc)) from exc


@lru_cache(maxsize=512)
def referenced_fields(source: str) -> frozenset[str]:
    """Top-level names a template reads; lets a launch skip rendering for complete people."""
    try:
        return frozenset(meta.find_undeclared_variables(_HTML.parse(source)))
    except TemplateError as exc:
        raise TemplateSyntaxProblem(str(exc)) from exc


def check_syntax(source: str) -> str | None:
    """The syntax error of a template, or None; run when a template or step is saved."""
    try:
        _compile(source, True)
        _HTML.parse(source)
    except TemplateSyntaxProblem as exc:
        return exc.message
    # A sandbox escape attempt ({{ ''.__class__.__mro__ }}) parses fine and fails for every
    # person alike, so refuse it when the template is saved rather than at launch time.
    try:
        _compile(source, True).render({})
    except SecurityError as exc:
        return f"unsafe template: {exc}"
    except Exception:  # noqa: BLE001 - missing data and the like are judged per person at launch
        pass
    return None


def merge_context(person: Mapping[str, Any], sender: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The names a template can use: the person's standard fields, their custom fields, ``sender``.

    Empty values count as missing, so a blank custom field refuses like an absent one."""
    context: dict[str, Any] = {}
    for key, value in (person.get("fields") or {}).items():
        if value not in (None, "") and isinstance(key, str):
            context[key] = value
    for key in STANDARD_FIELDS:
        value = person.get(key)
        if value not in (None, ""):
            context[key] = value
    if sender:
        context["sender"] = dict(sender)
    return context


def render(source: str, context: Mapping[str, Any], *, html: bool = True) -> str:
    try:
        return _compile(source, html).render(context)
    except MissingMergeField:
        raise
    except TemplateError as exc:
        raise TemplateSyntaxProblem(str(exc)) from exc
    except Exception as exc:  # a sandbox refusal or a filter error: treat as a template problem
        raise TemplateSyntaxProblem(str(exc)) from exc


def render_subject(source: str, context: Mapping[str, Any]) -> str:
    """Subjects are plain text on one line: no header can be injected through merge data."""
    text = render(source, context, html=False)
    return " ".join(text.split())


def render_template(subject: str, body_html: str, person: Mapping[str, Any],
                    sender: Mapping[str, Any] | None = None) -> tuple[str, str]:
    context = merge_context(person, sender)
    return render_subject(subject, context), render(body_html, context)


def missing_field(sources: tuple[str, ...], person: Mapping[str, Any],
                  sender: Mapping[str, Any] | None = None) -> str | None:
    """The first merge field these templates need that the person lacks, or None."""
    context = merge_context(person, sender)
    for source in sources:
        needed = referenced_fields(source)
        absent = needed - context.keys() - BLANK_WHEN_MISSING - FALLBACKS.keys()
        if not absent:
            continue
        try:
            render(source, context)
        except MissingMergeField as exc:
            return exc.field
    return None


__all__ = [
    "MissingMergeField",
    "TemplateSyntaxProblem",
    "check_syntax",
    "merge_context",
    "missing_field",
    "referenced_fields",
    "render",
    "render_subject",
    "render_template",
]
