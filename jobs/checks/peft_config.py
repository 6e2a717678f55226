"""Validate a PEFT adapter config with peft's own classes, in a short-lived process.

Importing peft imports torch (hundreds of MB), which the worker must never hold, and the config's
own regexes (target_modules, rank_pattern) run here too, under the caller's timeout. So the adapter
check runs this file as a script, `python -I peft_config.py`, and it imports nothing from the
project (importing the `jobs.checks` package would set up Django).

stdin:  {"config": {...adapter_config.json...}, "modules": ["model.layers.0.self_attn.q_proj", ...]}
stdout: {"errors": [...], "warnings": [...], "config_class": "LoraConfig", "peft_version": "0.x",
         "modules": {module: {"targeted": bool, "r": int | null}}}
"""

from __future__ import annotations

import dataclasses
import enum
import json
import sys
import types
import typing
import warnings
from typing import Any, Literal, Union


def matches(value: Any, hint: Any) -> bool:
    """Whether a JSON value fits a dataclass field's annotation (peft itself does not check types)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin in (Union, types.UnionType):
        return any(matches(value, arg) for arg in args)
    if hint is type(None):
        return value is None
    if origin is Literal:
        # peft spells open-ended choices as placeholders, e.g. "pissa_niter_[number of iters]"
        return any(
            (type(value) is type(a) and value == a)
            or (isinstance(a, str) and "[" in a and isinstance(value, str) and value.startswith(a.split("[")[0]))
            for a in args
        )
    if origin in (list, set, frozenset):
        return isinstance(value, list) and all(matches(v, args[0]) for v in value) if args else isinstance(value, list)
    if origin is tuple:
        if not isinstance(value, list):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(matches(v, args[0]) for v in value)
        return len(value) == len(args) and all(matches(v, a) for v, a in zip(value, args, strict=True))
    if origin is dict or hint is dict:
        return isinstance(value, dict) and (len(args) < 2 or all(matches(v, args[1]) for v in value.values()))
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if hint is list:
        return isinstance(value, list)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return value in {m.value for m in hint} or value in hint.__members__
    if dataclasses.is_dataclass(hint):
        return isinstance(value, dict)
    return True  # a type JSON cannot express: the class's own checks decide


def validate(config: Any, modules: list[str]) -> dict[str, Any]:
    import peft
    from peft.mapping import PEFT_TYPE_TO_CONFIG_MAPPING
    from peft.tuners.tuners_utils import check_target_module_exists
    from peft.utils.other import get_pattern_key

    result: dict[str, Any] = {"errors": [], "warnings": [], "peft_version": peft.__version__, "modules": {}}
    errors: list[str] = result["errors"]
    if not isinstance(config, dict):
        errors.append(f"the config is a JSON {type(config).__name__}, not an object")
        return result
    types_by_name = {str(getattr(k, "value", k)): cls for k, cls in PEFT_TYPE_TO_CONFIG_MAPPING.items()}
    peft_type = config.get("peft_type")
    if not isinstance(peft_type, str) or peft_type not in types_by_name:
        errors.append(f"peft_type {peft_type!r} is not one of PEFT's types ({', '.join(sorted(types_by_name))})")
        return result
    cls = types_by_name[peft_type]
    result["config_class"] = cls.__name__
    fields = {f.name for f in dataclasses.fields(cls) if f.init}
    hints = typing.get_type_hints(cls)
    if unknown := sorted(set(config) - fields):
        errors.append(f"unknown field(s) for {cls.__name__}: {', '.join(unknown)}")
    for name in sorted(set(config) & fields):
        hint = hints.get(name, Any)
        if not matches(config[name], hint):
            shown = json.dumps(config[name])[:80]
            expected = hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "")
            errors.append(f"{name}: {shown} is not of type {expected}")
    if "r" in fields and isinstance(config.get("r"), int) and config["r"] <= 0:
        errors.append(f"r: {config['r']} must be a positive rank")
    if errors:
        return result
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            instance = cls(**config)
        except Exception as exc:  # the class's own __post_init__ checks
            errors.append(f"{cls.__name__} rejects it: {exc}")
            return result
    result["warnings"] = [str(w.message)[:300] for w in caught][:10]

    rank_pattern = getattr(instance, "rank_pattern", None) or {}
    try:
        for module in modules:
            targeted = (
                bool(check_target_module_exists(instance, module))
                if getattr(instance, "target_modules", None)
                else False
            )
            r = getattr(instance, "r", None)
            if rank_pattern:
                r = rank_pattern.get(get_pattern_key(list(rank_pattern), module), r)
            result["modules"][module] = {"targeted": targeted, "r": r if isinstance(r, int) else None}
    except Exception as exc:  # an invalid target_modules or rank_pattern regex, say
        errors.append(f"matching modules against target_modules/rank_pattern failed: {exc}")
    return result


def main() -> None:
    request = json.loads(sys.stdin.read())
    print(json.dumps(validate(request.get("config"), list(request.get("modules") or []))))


if __name__ == "__main__":
    main()
