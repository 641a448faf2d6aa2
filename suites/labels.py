"""Human-readable names of estimators and problems, shared by the CLI's table and the report."""
from __future__ import annotations

import json
from typing import Any, Iterable


def format_value(value: Any) -> str:
    """A config value as it would be typed: ``0.5``, ``loo``, ``True``."""
    return str(value)


def with_options(name: str, config: dict[str, Any], keys: Iterable[str] | None = None) -> str:
    """``name(k=v,...)`` over ``keys`` (default: all, sorted); bare ``name`` when there are none."""
    keys = sorted(config) if keys is None else [k for k in keys if k in config]
    inner = ",".join(f"{k}={format_value(config[k])}" for k in keys)
    return f"{name}({inner})" if inner else name


def parse_config(config_json: str) -> dict[str, Any]:
    """A stored ``*_config`` column back to a dict (empty for blank cells)."""
    return json.loads(config_json) if config_json else {}


def estimator_label(name: str, config_json: str) -> str:
    """How the CLI names an estimator configuration: ``score_function(baseline=loo)``."""
    return with_options(name, parse_config(config_json))


def problem_label(name: str, config_json: str, keys: Iterable[str] | None = None) -> str:
    """How the CLI names a problem configuration: ``gaussian(cost=square,dim=10)``."""
    return with_options(name, parse_config(config_json), keys)


def varying_keys(config_jsons: Iterable[str]) -> list[str]:
    """Config keys whose value differs between ``config_jsons`` (what tells them apart)."""
    configs = [parse_config(c) for c in config_jsons]
    keys = sorted({k for c in configs for k in c})
    return [k for k in keys if len({json.dumps(c.get(k), sort_keys=True) for c in configs}) > 1]
