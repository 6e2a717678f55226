"""SPDX license expressions: parsed and normalized with the `license-expression` library.

Two parsers share SPDX's symbols and the model-license table's ids (registry/model_licenses.py):
the strict one (`spdx_normalize`, for what members declare at push) knows the table's
`LicenseRef-`s only by their ids, in any case; the lenient one (`license_parse`, for licenses that
come from outside, like a Hub repo's) also reads the Hub's and ScanCode's names for them
('llama3.1' → 'LicenseRef-Llama-3.1').
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from license_expression import (
    AND,
    OR,
    ExpressionError,
    LicenseExpression,
    LicenseSymbol,
    LicenseWithExceptionSymbol,
    Licensing,
    get_spdx_licensing,
)

from registry.model_licenses import LICENSES, Commercial, ModelLicense, canonical_id, license_attributes

# SPDX lets anyone name a license outside its list as LicenseRef-<idstring>.
_LICENSE_REF = re.compile(r"^LicenseRef-[A-Za-z0-9.-]{1,120}$")
MAX_LENGTH = 500
MAX_CHOICES = 256  # alternatives of an expanded expression; more is not a license anyone can read


def _licensing(*, aliases: bool) -> Licensing:
    """SPDX's symbols plus the table's; with `aliases`, the table's aliases resolve to its ids."""
    spdx = {id(symbol): symbol for symbol in get_spdx_licensing().known_symbols.values()}.values()
    symbols: dict[str, LicenseSymbol] = {symbol.key.lower(): symbol for symbol in spdx}
    for entry in LICENSES.values():
        known = symbols.get(entry.id.lower())
        names = [*(known.aliases if known else ()), *(entry.aliases if aliases else ())]
        if aliases:
            for alias in entry.aliases:  # ScanCode's refs are SPDX-knowledge-base symbols of their own
                symbols.pop(alias.lower(), None)
        unique = tuple(dict.fromkeys(n for n in names if n.lower() != entry.id.lower()))
        symbols[entry.id.lower()] = LicenseSymbol(key=entry.id, aliases=unique)
    return Licensing(list(symbols.values()))


_strict = _licensing(aliases=False)
_lenient = _licensing(aliases=True)


def spdx_normalize(expression: str, *, field: str = "license") -> str:
    """The canonical form of an SPDX expression ('apache-2.0 or mit' → 'Apache-2.0 OR MIT'), or a
    ValidationError on `field` that says what is wrong."""
    expression = (expression or "").strip()
    if not expression:
        raise ValidationError({field: ["a license is required: an SPDX expression such as 'Apache-2.0'"]})
    if len(expression) > MAX_LENGTH:
        raise ValidationError({field: [f"a license expression is at most {MAX_LENGTH} characters"]})
    try:
        parsed = _strict.parse(expression, strict=True)
    except ExpressionError as exc:
        raise ValidationError({field: [f"'{expression}' is not a valid SPDX expression: {exc}"]}) from None
    if parsed is None:
        raise ValidationError({field: [f"'{expression}' is not a valid SPDX expression"]})
    unknown = [key for key in _strict.unknown_license_keys(parsed) if not _LICENSE_REF.match(key)]
    if unknown:
        hints = [f"'{key}' is '{canonical_id(key)}'" for key in unknown if canonical_id(key)]
        raise ValidationError(
            {
                field: [
                    f"unknown SPDX license id(s) {unknown}; use an id from the SPDX list (like 'Apache-2.0') "
                    "or name another license as 'LicenseRef-<name>'" + (f" (here {'; '.join(hints)})" if hints else "")
                ]
            }
        )
    return str(parsed)


def license_parse(expression: str) -> tuple[LicenseExpression | None, str]:
    """A parsed expression with table aliases resolved, or (None, what is wrong). Never raises."""
    expression = (expression or "").strip()
    if not expression:
        return None, "no license declared"
    if len(expression) > MAX_LENGTH:
        return None, f"a license expression is at most {MAX_LENGTH} characters"
    try:
        parsed = _lenient.parse(expression, strict=True)
    except ExpressionError as exc:
        return None, f"'{expression}' is not a valid SPDX expression: {exc}"
    if parsed is None:
        return None, f"'{expression}' is not a valid SPDX expression"
    return parsed, ""


def unknown_keys(parsed: LicenseExpression) -> list[str]:
    """Keys of `parsed` that are neither on the SPDX list nor in the registry's table (ScanCode's
    `LicenseRef-scancode-*` refs count as unknown unless the table aliases them)."""
    missing = set(_lenient.unknown_license_keys(parsed))
    keys = [symbol.key for symbol in _lenient.license_symbols(parsed, unique=True, decompose=True)]
    return [key for key in keys if key in missing or (key.startswith("LicenseRef-") and canonical_id(key) is None)]


@dataclass(frozen=True)
class Choice:
    """One way to take an expression: licenses that all apply together (one side of an OR)."""

    licenses: tuple[ModelLicense, ...]

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(entry.id for entry in self.licenses)

    @property
    def commercial(self) -> Commercial:
        """All terms apply at once, so the most restrictive wins; unknown ranks below any permission."""
        return min((entry.commercial for entry in self.licenses), key=_COMMERCIAL_RANK.index)

    @property
    def pass_through(self) -> frozenset[str]:
        return frozenset(entry.id for entry in self.licenses if entry.pass_through)

    def __str__(self) -> str:
        return " AND ".join(sorted(self.ids))


_COMMERCIAL_RANK = [Commercial.NO, Commercial.UNKNOWN, Commercial.CONDITIONAL, Commercial.YES]


def best_commercial(choices: list[Choice]) -> Commercial:
    """The licensee picks a side of each OR: the most permissive choice counts."""
    return max((choice.commercial for choice in choices), key=_COMMERCIAL_RANK.index)


def license_choices(parsed: LicenseExpression) -> list[Choice] | None:
    """The expression as a disjunction of conjunctions, or None when it has more than MAX_CHOICES."""
    sets = _expand(parsed)
    if sets is None:
        return None
    unique = list(dict.fromkeys(frozenset(keys) for keys in sets))
    return [Choice(tuple(license_attributes(key) for key in sorted(keys))) for keys in unique]


def _expand(node: LicenseExpression) -> list[frozenset[str]] | None:
    if isinstance(node, LicenseWithExceptionSymbol):
        return [frozenset({node.license_symbol.key})]
    if isinstance(node, LicenseSymbol):
        return [frozenset({node.key})]
    parts = [_expand(arg) for arg in node.args]
    if any(part is None for part in parts):
        return None
    if isinstance(node, OR):
        flat = [keys for part in parts if part is not None for keys in part]
        return flat if len(flat) <= MAX_CHOICES else None
    if isinstance(node, AND):
        combined: list[frozenset[str]] = [frozenset()]
        for part in parts:
            combined = [left | right for left in combined for right in part or []]
            if len(combined) > MAX_CHOICES:
                return None
        return combined
    return None
