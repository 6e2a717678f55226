"""How a portal form runs a service call: the call's refusal becomes a message on the next page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from registry.errors import DomainError


def act(request: HttpRequest, call: Callable[[], object], success: str) -> bool:
    """Run one service call for a form; say what happened (or why it was refused) on the next page."""
    try:
        call()
    except (DomainError, ValidationError) as exc:
        messages.error(request, error_message(exc))
        return False
    messages.success(request, success)
    return True


def error_message(exc: DomainError | ValidationError) -> str:
    if isinstance(exc, DomainError):
        return exc.message
    return " ".join(f"{field}: {' '.join(errors)}" for field, errors in exc.message_dict.items())


def act_on_form(
    request: HttpRequest, form: forms.Form, call: Callable[[dict[str, Any]], object], success: str, *, refused: str
) -> bool:
    """`act` with a valid form's data; an invalid form is said as "<refused>: <each field's problem>."."""
    if not form.is_valid():
        problems = " ".join(f"{field}: {' '.join(map(str, errors))}" for field, errors in form.errors.items())
        messages.error(request, f"{refused}: {problems}.")
        return False
    return act(request, lambda: call(form.cleaned_data), success)
