"""A name -> entry registry: built-ins, entry-point plugins and ad hoc ``pkg.module:Class`` names.

Every lookup of an estimator, problem or suite goes through ``Registry.lookup``,
so a plugin is measured, checked and reported exactly like a built-in one:

* built-ins are registered by the package (``register``);
* plugins are found, lazily on the first lookup or listing, in the
  entry-point group ``mcgradbench.<kind>s`` (``importlib.metadata``); one
  that fails to import is recorded in ``failures`` (name and one-line error)
  and the others still load;
* a name of the form ``pkg.module:Attr`` is imported ad hoc, without
  packaging (``estimators.get("mypkg.est:MyEstimator")``).
"""
from __future__ import annotations

import ast
import importlib
import importlib.metadata
import inspect
import json
import os
import re
import sys
from typing import Any, Callable, Generic, Iterable, TypeVar

T = TypeVar("T")

BUILTIN = "built-in"


class OptionTypeError(TypeError, ValueError):
    """An option of the wrong type (a flag or a string where a number is asked): a
    ``TypeError`` to Python code, and bad input, like any ``ValueError``, to the command
    line, which turns it into its one-line error."""


def check_seed(seed: Any, name: str = "seed") -> int:
    """``seed`` as a torch generator takes it: an integer in ``0..2**62`` (``TypeError`` for a
    non-integer, a flag included; ``ValueError`` out of range)."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise OptionTypeError(f"{name} must be an integer in 0..2**62, got {type(seed).__name__} {seed!r}")
    if not 0 <= seed <= 2**62:
        raise ValueError(f"{name} must be an integer in 0..2**62, got {seed!r}")
    return seed


def check_not_flag(name: str, value: Any) -> None:
    """``TypeError`` for ``True``/``False`` where a number is asked: Python counts a flag as
    0 or 1, which would pass every range check and measure something nobody asked for."""
    if isinstance(value, bool):
        raise OptionTypeError(f"{name} must be a number, got the flag {value!r}")


def import_object(spec: str) -> Any:
    """The object named ``pkg.module:Attr`` (``Attr`` may be dotted), or a one-line ``ValueError``."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError(f"{spec!r} is not of the form pkg.module:Name")
    # Modules in the working directory import as under `python -m` (the `mcgradbench`
    # script's own directory is on sys.path, the user's is not): uvicorn's --app-dir default.
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    try:
        obj = importlib.import_module(module_name)
    except Exception as error:  # any import error of a user's module is reported, not raised
        raise ValueError(f"cannot import {module_name!r} for {spec!r}: "
                         f"{type(error).__name__}: {error}") from None
    try:
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError:
        raise ValueError(f"module {module_name!r} has no attribute {attr!r} (from {spec!r})") from None
    return obj


def parse_value(text: str) -> Any:
    """A command-line option value: a Python literal (``3``, ``0.5``, ``[1, 2]``, ``True``) or a string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def check_balanced(spec: str) -> None:
    """``ValueError`` (one line) calling ``spec`` malformed where its brackets do not pair up
    (``gumbel_softmax(temperature=0.5``: a label cut short, or pasted with one too many)."""
    closing = {")": "(", "]": "["}
    stack = []
    for index, char in enumerate(spec):
        if char in "([":
            stack.append((char, index))
        elif char in closing:
            if not stack or stack[-1][0] != closing[char]:
                raise ValueError(f"malformed label {spec!r}: {char!r} at position {index + 1} "
                                 f"closes nothing; write NAME(key=value,...) or NAME,key=value,...")
            stack.pop()
    if stack:
        char, index = stack[-1]
        raise ValueError(f"malformed label {spec!r}: {char!r} at position {index + 1} is never "
                         f"closed; write NAME(key=value,...) or NAME,key=value,...")


def split_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``"name,key=value,..."`` or ``"name(key=value,...)"`` -> ``("name", {key: value})``;
    values as ``parse_value`` reads them.

    Used for ``--problem pkg.module:Class,dim=3`` and ``--estimator NAME,baseline=loo``; the
    parenthesised form is the label every table prints, so a printed label can be typed back.
    """
    check_balanced(spec)
    label = re.fullmatch(r"([^(),]+)\((.*)\)", spec.strip())
    if label:
        spec = f"{label[1]},{label[2]}" if label[2].strip() else label[1]
    # Commas inside brackets belong to a list value (counts=[1, 4]).
    name, *pairs = re.split(r",(?![^\[]*\])", spec)
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{spec!r}: expected name,key=value,... but got {pair!r}")
        if key.strip() in options:  # the last would silently win
            raise ValueError(f"{spec!r}: option {key.strip()!r} is given twice; give each once")
        options[key.strip()] = parse_value(value.strip())
    return name.strip(), options


class Registry(Generic[T]):
    """Entries found by their ``name`` attribute; used for estimators, problems and suites."""

    def __init__(self, kind: str, group: str | None = None, base: type | None = None):
        self.kind = kind
        #: Entry-point group scanned for plugins (``mcgradbench.estimators`` ...).
        self.group = group
        #: The class every entry subclasses (``Estimator``, ``Problem``); ``None``: any object.
        self.base = base
        self._entries: dict[str, T] = {}
        self._origins: dict[str, str] = {}
        #: Plugins that failed to load: entry-point name -> one-line reason.
        self.failures: dict[str, str] = {}
        self._plugins_loaded = group is None

    def register(self, entry: T, origin: str = BUILTIN, replace: bool = False) -> T:
        """Add ``entry`` under ``entry.name`` (usable as a class decorator).

        ``replace`` lets an entry take the place of one registered at run time (a grid
        file read again); never of a built-in or a plugin.
        """
        name = entry.name
        same = replace and not self._origins.get(name, BUILTIN).startswith((BUILTIN, "plugin"))
        if name in self._entries and self._entries[name] is not entry and not same:
            raise ValueError(f"{self.kind} name {name!r} is already registered "
                             f"(by {self._origins[name]})")
        self._entries[name] = entry
        self._origins[name] = origin
        return entry

    def load_plugins(self) -> None:
        """Register the entry points of ``group`` once; record, not raise, each failure."""
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for point in importlib.metadata.entry_points(group=self.group):
            dist = point.dist.name if point.dist is not None else "?"
            try:
                entry = self.check_kind(point.value, point.load())
                if getattr(entry, "name", None) != point.name:
                    raise ValueError(f"its name attribute is {getattr(entry, 'name', None)!r}, "
                                     f"not the entry-point name {point.name!r}")
                self.register(entry, origin=f"plugin {dist} ({point.value})")
            except Exception as error:  # a broken plugin must not break the others
                reason = str(error).splitlines()[0] if str(error) else ""
                self.failures[point.name] = (f"{self.kind} plugin {point.name!r} from {dist} "
                                             f"({point.value}) failed to load: "
                                             f"{type(error).__name__}: {reason}")

    def names(self) -> list[str]:
        """Registered names (built-ins and loaded plugins), sorted."""
        self.load_plugins()
        return sorted(self._entries)

    def lookup(self, name: str) -> T:
        """The entry called ``name`` or importable as ``pkg.module:Attr``; else ``ValueError``."""
        if isinstance(name, str) and ":" in name:
            return self.check_kind(name, import_object(name))
        self.load_plugins()
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            failed = f" ({self.failures[name]})" if name in self.failures else ""
            raise ValueError(f"unknown {self.kind} {name!r}{failed}; "
                             f"known: {', '.join(self.names())}") from None

    def check_kind(self, name: str, entry: Any) -> Any:
        """``entry``, or a one-line ``ValueError`` saying what ``name`` is when it is not a
        subclass of ``base`` (a module, a function, another kind's class)."""
        if self.base is None or (isinstance(entry, type) and issubclass(entry, self.base)):
            if isinstance(entry, type) and inspect.isabstract(entry):
                missing = ", ".join(sorted(entry.__abstractmethods__))
                raise ValueError(f"{name!r} is an abstract class (it leaves {missing} undefined): "
                                 f"name a subclass that defines them")
            return entry
        if isinstance(entry, type):
            what = f"the class {entry.__module__}.{entry.__qualname__}"
            kinds = {"Estimator": "an estimator", "Problem": "a problem"}
            for ancestor in entry.__mro__[1:]:
                if ancestor.__name__ in kinds and ancestor.__module__.startswith(("estimators", "suites")):
                    what += f" ({kinds[ancestor.__name__]})"
                    break
        elif inspect.ismodule(entry):
            what = f"the module {entry.__name__}"
        else:
            what = f"a {type(entry).__name__} object"
        article = "an" if self.kind[0] in "aeiou" else "a"
        raise ValueError(f"{name!r} is {what}, not {article} {self.kind} class: expected a subclass of "
                         f"{self.base.__module__}.{self.base.__qualname__}")

    def origin(self, name: str) -> str:
        """Where an entry came from: ``built-in``, ``plugin DIST (module:Attr)`` or ``ad hoc``."""
        self.load_plugins()
        return self._origins.get(name, "ad hoc")

    def describe(self, name: str) -> str:
        """First docstring line of an entry: what it is."""
        return ((self.lookup(name).__doc__ or "").strip().splitlines() or [""])[0]


def check_keywords(kind: str, name: str, function: Callable[..., Any], given: dict[str, Any]) -> None:
    """``ValueError`` naming the keywords ``function`` does not accept, and those it does."""
    accepted = [p for p in inspect.signature(function).parameters if p != "self"]
    unknown = sorted(set(given) - set(accepted))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for {kind} {name!r}; "
                         f"allowed: {', '.join(accepted) or 'none'}")


def same_value(a: Any, b: Any) -> bool:
    """Whether two option values are the same setting (``1`` and ``1.0`` are): what labels use to
    leave out options that equal their defaults."""
    try:
        if json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True):
            return True
    except TypeError:
        return False
    return isinstance(a, (int, float)) and isinstance(b, (int, float)) and float(a) == float(b)


def format_value(value: Any) -> str:
    """A config value as it would be typed: ``0.5``, ``loo``, ``True``."""
    return str(value)


def with_options(name: str, config: dict[str, Any], keys: Iterable[str] | None = None) -> str:
    """``name(k=v,...)`` over ``keys`` (default: all, sorted); bare ``name`` when there are none."""
    keys = sorted(config) if keys is None else [k for k in keys if k in config]
    inner = ",".join(f"{k}={format_value(config[k])}" for k in keys)
    return f"{name}({inner})" if inner else name
