"""Human-readable names of estimators and problems, shared by the CLI's table and the report."""
from __future__ import annotations

import json
from typing import Any, Iterable

from estimators.registry import same_value, split_spec, with_options


def parse_config(config_json: str) -> dict[str, Any]:
    """A stored ``*_config`` column back to a dict (empty for blank cells)."""
    return json.loads(config_json) if config_json else {}


def defaults(kind: str, name: str) -> dict[str, Any]:
    """The default options of a registered estimator or problem (``{}`` when unknown)."""
    import inspect
    try:
        if kind == "estimator":
            import estimators
            return dict(estimators._REGISTRY.lookup(name).options)
        from suites import problems
        signature = inspect.signature(problems._REGISTRY.lookup(name).__init__)
    except (ValueError, AttributeError):
        return {}
    return {k: p.default for k, p in signature.parameters.items()
            if p.default is not inspect.Parameter.empty}


def differing(kind: str, name: str, config: dict[str, Any]) -> dict[str, Any]:
    """``config`` without the options that equal their defaults."""
    default = defaults(kind, name)
    return {k: v for k, v in config.items() if k not in default or not same_value(v, default[k])}


#: Problem options a label always shows, default or not: a bare ``bernoulli`` selects every
#: dimension (``run --problem bernoulli``), so the label of one dimension must say which.
ALWAYS_SHOWN = ("dim",)


def shown(kind: str, name: str, config: dict[str, Any]) -> dict[str, Any]:
    """The options a label shows: those that differ from the defaults, and a problem's
    ``ALWAYS_SHOWN`` ones (so ``bernoulli(dim=10)``, ``gaussian(cost=cos,dim=10)``)."""
    keep = differing(kind, name, config)
    if kind == "problem":
        keep.update({k: config[k] for k in ALWAYS_SHOWN if k in config})
        # A config entry that is no option of the constructor (gaussian_full's
        # custom_scale_tril, which follows from scale_tril) could not be typed back.
        options = defaults(kind, name)
        keep = {k: v for k, v in keep.items() if not options or k in options}
    return keep


def estimator_label(name: str, config_json: str, full: bool = False) -> str:
    """How the CLI names an estimator configuration, ``score_function(baseline=loo)``: the
    options that differ from the defaults (``full``: every option, as ``Estimator.label``)."""
    config = parse_config(config_json)
    return with_options(name, config if full else differing("estimator", name, config))


def problem_label(name: str, config_json: str, keys: Iterable[str] | None = None,
                  full: bool = False) -> str:
    """How the CLI names a problem configuration, ``gaussian(cost=cos,dim=10)``: the options
    that differ from the defaults and its dimension (or ``keys``; ``full``: every option)."""
    config = parse_config(config_json)
    if keys is None and not full:
        config = shown("problem", name, config)
    return with_options(name, config, keys)


def parse_label(label: str) -> tuple[str, dict[str, Any]]:
    """``NAME(k=v,...)`` -> ``(NAME, {k: v})``, values as ``estimators.registry.parse_value``
    reads them; ``ValueError`` (one line) for a malformed or repeated option."""
    if "(" not in label or not label.endswith(")"):
        return label, {}
    name, inner = label[:-1].split("(", 1)
    if not inner.strip():
        return name, {}
    try:
        _, options = split_spec(f"{name},{inner}")
    except ValueError as error:
        raise ValueError(f"{label!r}: {str(error).split(': ', 1)[-1]}") from None
    return name, options


def label_names(kind: str, label: str, name: str, config: dict[str, Any]) -> bool:
    """Whether ``label``, as the tables print it, names the configuration ``name, config``.

    A bare name names every configuration of it; ``NAME(k=v,...)`` names the one whose
    options, defaults filled in, are those (so ``gaussian(cost=cos)`` and
    ``gaussian(cost=cos,dim=10)`` both name dimension 10, the default).
    """
    if "(" not in label or not label.endswith(")"):
        return label == name
    label_name, inner = label[:-1].split("(", 1)
    if label_name != name:
        return False
    try:
        _, given = split_spec(f"{label_name},{inner}")
    except ValueError:
        return False
    default = defaults(kind, name)
    full = {**default, **config}
    # every option the label gives has that value, and every other one is at its default
    return (all(key in full and same_value(value, full[key]) for key, value in given.items())
            and all(same_value(value, default[key]) for key, value in config.items()
                    if key not in given and key in default))


def varying_keys(config_jsons: Iterable[str]) -> list[str]:
    """Config keys whose value differs between ``config_jsons`` (what tells them apart)."""
    configs = [parse_config(c) for c in config_jsons]
    keys = sorted({k for c in configs for k in c})
    return [k for k in keys if len({json.dumps(c.get(k), sort_keys=True) for c in configs}) > 1]


def plain_text(text: str) -> str:
    """A docstring line for a terminal: reStructuredText ````literal```` marks removed."""
    return text.replace("``", "")
