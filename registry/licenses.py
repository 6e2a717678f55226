"""SPDX license expressions: parsed and normalized with the `license-expression` library."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from license_expression import ExpressionError, get_spdx_licensing

_licensing = get_spdx_licensing()
# SPDX lets anyone name a license outside its list as LicenseRef-<idstring>.
_LICENSE_REF = re.compile(r"^LicenseRef-[A-Za-z0-9.-]{1,120}$")
MAX_LENGTH = 500


def spdx_normalize(expression: str, *, field: str = "license") -> str:
    """The canonical form of an SPDX expression ('apache-2.0 or mit' → 'Apache-2.0 OR MIT'), or a
    ValidationError on `field` that says what is wrong."""
    expression = (expression or "").strip()
    if not expression:
        raise ValidationError({field: ["a license is required: an SPDX expression such as 'Apache-2.0'"]})
    if len(expression) > MAX_LENGTH:
        raise ValidationError({field: [f"a license expression is at most {MAX_LENGTH} characters"]})
    try:
        parsed = _licensing.parse(expression, strict=True)
    except ExpressionError as exc:
        raise ValidationError({field: [f"'{expression}' is not a valid SPDX expression: {exc}"]}) from None
    if parsed is None:
        raise ValidationError({field: [f"'{expression}' is not a valid SPDX expression"]})
    unknown = [key for key in _licensing.unknown_license_keys(parsed) if not _LICENSE_REF.match(key)]
    if unknown:
        raise ValidationError(
            {
                field: [
                    f"unknown SPDX license id(s) {unknown}; use an id from the SPDX list (like 'Apache-2.0') "
                    "or name another license as 'LicenseRef-<name>'"
                ]
            }
        )
    return str(parsed)
