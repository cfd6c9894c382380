"""Settings declared once: each field of a config dataclass (`ModelConfig`, `TrainConfig`) carries its help text,
bounds and choices (`setting`), and everything else is derived from that one declaration: the config's own checks
(`problems`, one sentence per bad value), its reading from JSON (`from_dict`), the command line's flags
(`add_arguments`, `given_settings`, used by `vae.cli.train`) and the training page's form (`form_fields`). Adding a
setting is adding a field; nothing else names it.

A nested config (TrainConfig.model) is a field whose type is itself a dataclass: its settings are flattened into
the same flags and form, addressed by path ("model.latent_dim").
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import math
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four"}


class ConfigError(ValueError):
    """A model or training setting is out of range; `problems` holds one sentence for each bad value, each naming
    the setting as the code does (e.g. 'epochs must be a whole number of at least 1 and at most 1000, not 0.')."""

    def __init__(self, problems: list[str] | str):
        problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__(" ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Setting:
    """How one setting is declared: what it means, what values it takes, and how the command line and the page
    show it. Bounds are inclusive unless `above` (minimum excluded) or `below` (maximum excluded)."""

    help: str
    label: str | None = None  # the page's name for it; default: the field's name, spaces for underscores
    flag: str | None = None  # default: --field-name
    minimum: float | None = None  # for a tuple: of each item
    maximum: float | None = None
    above: bool = False
    below: bool = False
    choices: tuple = ()
    titles: tuple[tuple[Any, str], ...] = ()  # (value, how the page writes it) for choices
    items: tuple[int, int] | None = None  # for a tuple: (fewest, most) items
    valid: Callable[[Any], bool] | None = None  # a check beyond the bounds; `must` says what it asks for
    must: str | None = None
    parse: Callable[[str], Any] | None = None  # command-line text to value, where the type's own does not do
    metavar: str | None = None
    applies: tuple[tuple[str, Any], ...] = ()  # (setting, value): it matters only when those settings have them
    advanced: bool = False  # the page shows it under "More settings"
    step: float | None = None  # the page's +/- step
    format: str | None = None  # the page's printf format for a number
    widget: str | None = None  # a widget of the page's own for this setting, by name


def setting(default: Any, help: str, **options: Any) -> Any:
    """A dataclass field with `default` and its `Setting` (help, bounds, choices...) in its metadata."""
    return dataclasses.field(default=default, metadata={"setting": Setting(help, **options)})


def nested(factory: Callable[[], Any]) -> Any:
    """A dataclass field holding a config of its own (its settings join the parent's flags and form)."""
    return dataclasses.field(default_factory=factory)


@dataclass(frozen=True)
class FieldSpec:
    """One setting as the command line and the page see it; `path` addresses it in the config ("model.hidden")."""

    path: str
    name: str
    kind: str  # "int", "float", "bool", "str", "ints" (a tuple of whole numbers)
    default: Any
    setting: Setting
    prefix: str = ""  # the path of the config that declares it: "model." for ModelConfig's within TrainConfig

    @property
    def conditions(self) -> tuple[tuple[str, Any], ...]:
        """(path, value) of the settings it depends on: it matters only when each has its value."""
        return tuple((self.prefix + name, value) for name, value in self.setting.applies)

    @property
    def label(self) -> str:
        return self.setting.label or self.name.replace("_", " ").capitalize()

    @property
    def flag(self) -> str:
        return self.setting.flag or "--" + self.name.replace("_", "-")

    def bounds(self) -> str:
        """What values it takes, e.g. 'a whole number of at least 1 and at most 1000' or 'cosine or constant'."""
        s = self.setting
        if s.must:
            return s.must
        if s.choices:
            names = [str(c) for c in s.choices]
            return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]
        if self.kind in ("int", "float", "ints"):
            whole = self.kind != "float"
            if self.kind == "ints":
                fewest, most = s.items or (1, None)
                if fewest == most:
                    count = NUMBER_WORDS.get(fewest, str(fewest))
                else:
                    count = f"{fewest} or more" if most is None else f"{fewest} to {most}"
                return f"{count} {_range('whole numbers', s)}"
            return "a " + _range("whole number" if whole else "number", s)
        return {"bool": "true or false", "str": "a text"}[self.kind]


def _number(x: float) -> str:
    return str(x) if isinstance(x, int) else f"{x:g}"


def _range(noun: str, s: Setting) -> str:
    """'whole number of at least 1 and at most 1000', 'positive number of at most 1', 'number of at least 0 and
    below 1'."""
    parts = []
    if s.minimum == 0 and s.above:
        noun = "positive " + noun
    elif s.minimum is not None:
        parts.append(f"above {_number(s.minimum)}" if s.above else f"of at least {_number(s.minimum)}")
    if s.maximum is not None:
        upper = f"below {_number(s.maximum)}" if s.below else f"at most {_number(s.maximum)}"
        parts.append(upper if parts else f"of {upper}")
    return " ".join([noun, " and ".join(parts)]) if parts else noun


def _kind(hint: Any) -> str:
    if hint is bool:
        return "bool"
    if hint in (int, float, str):
        return hint.__name__
    if typing.get_origin(hint) is tuple and typing.get_args(hint)[:1] == (int,):
        return "ints"
    raise TypeError(f"a setting of type {hint} is not supported; use int, float, bool, str or tuple[int, ...]")


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """The resolved types of a config class's fields (their annotations are strings)."""
    return typing.get_type_hints(cls)


def _is_config(hint: Any) -> bool:
    return isinstance(hint, type) and dataclasses.is_dataclass(hint)


def walk(cls: type, defaults: Any = None, prefix: str = "") -> Iterator[FieldSpec]:
    """Every setting of config class `cls`, nested configs' settings in their place; defaults from the instance
    `defaults` (default: the class's own)."""
    defaults = cls() if defaults is None else defaults
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        value = getattr(defaults, f.name)
        if _is_config(hints[f.name]):
            yield from walk(hints[f.name], value, f"{prefix}{f.name}.")
        elif "setting" in f.metadata:
            yield FieldSpec(f"{prefix}{f.name}", f.name, _kind(hints[f.name]), value, f.metadata["setting"], prefix)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _in_bounds(x: float, s: Setting) -> bool:
    if s.minimum is not None and (x <= s.minimum if s.above else x < s.minimum):
        return False
    return s.maximum is None or (x < s.maximum if s.below else x <= s.maximum)


def _ok(spec: FieldSpec, value: Any) -> bool:
    s = spec.setting
    if spec.kind == "int":
        ok = _whole(value) and _in_bounds(value, s)
    elif spec.kind == "float":
        ok = (_whole(value) or isinstance(value, float)) and math.isfinite(value) and _in_bounds(value, s)
    elif spec.kind == "ints":
        fewest, most = s.items or (1, None)
        ok = (
            isinstance(value, tuple)
            and fewest <= len(value) <= (most or len(value))
            and all(_whole(v) and _in_bounds(v, s) for v in value)
        )
    else:
        ok = isinstance(value, bool if spec.kind == "bool" else str)
    if ok and s.choices:
        ok = value in s.choices
    return ok and (s.valid is None or s.valid(value))


def problems(config: Any) -> list[str]:
    """One sentence for each of `config`'s own settings (nested configs check themselves) that is out of bounds."""
    found = []
    hints = _hints(type(config))
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if _is_config(hints[f.name]):
            if not isinstance(value, hints[f.name]):
                found.append(f"{f.name} must be a {hints[f.name].__name__}, not {value!r}.")
        elif "setting" in f.metadata:
            spec = FieldSpec(f.name, f.name, _kind(hints[f.name]), value, f.metadata["setting"])
            if not _ok(spec, value):
                found.append(f"{f.name} must be {spec.bounds()}, not {value!r}.")
    return found


def to_dict(config: Any) -> dict:
    """The config as plain values (tuples stay tuples; JSON writes them as lists), nested configs as dicts."""
    return dataclasses.asdict(config)


def from_dict(cls: type, d: Any) -> Any:
    """The config of class `cls` that the dict `d` (as `to_dict` writes it, read back from JSON) describes.

    Settings it leaves out take their defaults (older cards lack newer settings); lists become tuples. Raises
    ConfigError with one sentence for each problem: an unknown name, a bad value (nested configs' too).
    """
    if not isinstance(d, dict):
        raise ConfigError(f"the settings of a {cls.__name__} must be a JSON object, not {type(d).__name__}.")
    hints = _hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    found = [f"there is no setting {key!r}; the settings are {', '.join(names)}." for key in d if key not in names]
    values = {}
    for f in dataclasses.fields(cls):
        if f.name not in d:
            continue
        value = d[f.name]
        if _is_config(hints[f.name]):
            try:
                value = from_dict(hints[f.name], value)
            except ConfigError as err:
                found += err.problems
                continue
        elif isinstance(value, list):
            value = tuple(value)
        elif hints[f.name] is float and _whole(value):
            value = float(value)
        values[f.name] = value
    try:
        config = cls(**values)
    except ConfigError as err:
        found += err.problems
    if found:
        raise ConfigError(found)
    return config


def replace_settings(config: Any, changes: dict[str, Any]) -> Any:
    """`config` with the settings at the paths in `changes` ("epochs", "model.hidden") set; ConfigError with one
    sentence per bad value."""
    d = to_dict(config)
    for path, value in changes.items():
        *parents, name = path.split(".")
        target = d
        for parent in parents:
            target = target[parent]
        target[name] = value
    return from_dict(type(config), d)


# --- The command line ---------------------------------------------------------------------------------------------


def _shown(value: Any) -> str:
    return " ".join(map(str, value)) if isinstance(value, tuple) else str(value)


def add_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """One flag per setting of `cls` (nested configs' too): type, choices and count from the declaration, help
    with its bounds and default. A flag left out is absent from the parsed namespace (see `given_settings`)."""
    for spec in walk(cls):
        s = spec.setting
        bounds = f"{spec.bounds()}; " if spec.kind in ("int", "float", "ints") else ""  # choices show in the usage
        options: dict[str, Any] = {
            "dest": spec.path,
            "default": argparse.SUPPRESS,
            "help": f"{s.help} ({bounds}default: {_shown(spec.default)})".replace("%", "%%"),
            "metavar": s.metavar or spec.name.upper(),
        }
        if spec.kind == "bool":
            options["action"] = argparse.BooleanOptionalAction
        else:
            options["type"] = s.parse or {"int": int, "float": float, "ints": int, "str": str}[spec.kind]
        if s.choices:
            options["choices"] = s.choices
            del options["metavar"]
        if spec.kind == "ints":
            fewest, most = s.items or (1, None)
            options["nargs"] = fewest if fewest == most else "+"
            options["metavar"] = s.metavar or "N"
        parser.add_argument(spec.flag, **options)


def given_settings(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The settings of `cls` given on the command line parsed into `args`, by path (tuples for lists)."""
    given = {}
    for spec in walk(cls):
        if hasattr(args, spec.path):
            value = getattr(args, spec.path)
            given[spec.path] = tuple(value) if isinstance(value, list) else value
    return given


# --- The page's form ----------------------------------------------------------------------------------------------


def form_fields(defaults: Any) -> list[FieldSpec]:
    """The settings of the config `defaults` in the order the page shows them, each with the value it starts at."""
    return list(walk(type(defaults), defaults))


def in_words(problem: str, fields: list[FieldSpec]) -> str:
    """A ConfigError sentence as the page says it: the setting's label for its name in the code ('lr must be...'
    -> 'Learning rate must be...'), or the sentence with a capital."""
    name, _, rest = problem.partition(" ")
    labels = {spec.name: spec.label for spec in fields}
    return f"{labels[name]} {rest}" if name in labels else problem[:1].upper() + problem[1:]
