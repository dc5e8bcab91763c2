"""Midjourney-style parameters at the end of a prompt: `a fox --ar 16:9 --seed 42 --no text, people --n 2`.

Pure functions, no Telegram: `parse` splits a prompt from its parameters and checks every value; a bad one raises
`BadParameter` naming it (what was typed and what is allowed), which the bot shows in the user's language.
Phones turn "--" into an em dash ("—ar") or an en dash: both count as "--".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from engine.api import ASPECTS, MAX_COUNT

MAX_SEED = 2**32 - 1
# A parameter starts a word: "--name", "—name" or "–name" (any case), after a space or at the very start.
_PARAMETER = re.compile(r"(?:^|(?<=\s))(?:--|—|–)([A-Za-z]+)\b")
NAMES: dict[str, str] = {  # what a user may type -> the parameter it is
    "ar": "ar",
    "aspect": "ar",
    "seed": "seed",
    "no": "no",
    "style": "style",
    "n": "n",
    "fast": "fast",
}


class BadParameter(ValueError):
    """A parameter the bot cannot use: `name` as typed ("ar"), its `value`, and `problem`, the locale key suffix of
    what to tell the user (params-<problem>)."""

    def __init__(self, name: str, value: str, problem: str) -> None:
        super().__init__(f"--{name} {value}: {problem}")
        self.name, self.value, self.problem = name, value, problem


@dataclass(frozen=True)
class Parameters:
    aspect: str | None = None
    seed: int | None = None
    negative: str = ""  # --no: what to leave out, as typed ("text, people")
    style: str | None = None  # --style: a style's id or name, as typed (resolved against the styles offered)
    count: int | None = None
    fast: bool = False

    def shown(self, style_name: str = "") -> str:
        """The parameters as a user would type them, for the caption ("--ar 16:9 --seed 42 --no text")."""
        parts = []
        if self.aspect:
            parts.append(f"--ar {self.aspect}")
        if self.seed is not None:
            parts.append(f"--seed {self.seed}")
        if self.negative:
            parts.append(f"--no {self.negative}")
        if self.style:
            parts.append(f"--style {style_name or self.style}")
        if self.count is not None:
            parts.append(f"--n {self.count}")
        if self.fast:
            parts.append("--fast")
        return " ".join(parts)


def parse(text: str) -> tuple[str, Parameters]:
    """(the prompt without its parameters, the parameters); raises BadParameter. A repeated parameter: the last one
    counts, as in Midjourney."""
    # "—word" with a name we do not know is prose ("a cat —fluffy"); "--word" is always meant as an option.
    found = [m for m in _PARAMETER.finditer(text) if m.group(0).startswith("--") or m.group(1).lower() in NAMES]
    if not found:
        return text.strip(), Parameters()
    values: dict[str, str] = {}
    for n, match in enumerate(found):
        end = found[n + 1].start() if n + 1 < len(found) else len(text)
        typed, value = match.group(1), text[match.end() : end].strip()
        name = NAMES.get(typed.lower())
        if name is None:
            raise BadParameter(typed, value, "unknown")
        values[name] = value
    return text[: found[0].start()].strip(), _checked(values)


def _checked(values: dict[str, str]) -> Parameters:
    fields: dict = {}
    for name, value in values.items():
        if name == "fast":
            if value:
                raise BadParameter(name, value, "no-value")
            fields["fast"] = True
        elif not value:
            raise BadParameter(name, value, "missing")
        elif name == "ar":
            fields["aspect"] = _aspect(value)
        elif name == "seed":
            fields["seed"] = _number(name, value, 0, MAX_SEED, "seed")
        elif name == "n":
            fields["count"] = _number(name, value, 1, MAX_COUNT, "count")
        elif name == "no":
            fields["negative"] = " ".join(value.split())
        else:
            fields["style"] = value
    return Parameters(**fields)


def _aspect(value: str) -> str:
    aspect = value.replace(" ", "").replace("/", ":").replace("x", ":").replace("×", ":")
    if aspect not in ASPECTS:
        raise BadParameter("ar", value, "aspect")
    return aspect


def _number(name: str, value: str, least: int, most: int, problem: str) -> int:
    if not re.fullmatch(r"\d{1,12}", value) or not least <= int(value) <= most:
        raise BadParameter(name, value, problem)
    return int(value)


def _key(text: str) -> str:
    return re.sub(r"[\s_\-]+", "", text.casefold())


def find_style(typed: str, names: Mapping[str, Mapping[str, str]]) -> str | None:
    """The id of the style `typed` names: its id or its name in any language, ignoring case, spaces, "-" and "_"
    ("comic book", "Comic-Book", "комикс"); `names` maps a style id to its names by language."""
    wanted = _key(typed)
    for style_id, localized in names.items():
        if wanted == _key(style_id) or wanted in {_key(name) for name in localized.values()}:
            return style_id
    return None


def record_fields(parameters: Parameters, names: Mapping[str, Mapping[str, str]]) -> dict:
    """The fields of a new request the parameters set (a style named resolved to its id; raises BadParameter for
    a style not offered here), with `params`, how the caption shows them."""
    fields: dict = {}
    style_name = ""
    if parameters.style is not None:
        style_id = find_style(parameters.style, names)
        if style_id is None:
            raise BadParameter("style", parameters.style, "style")
        fields["style"], style_name = style_id, style_id
    if parameters.aspect:
        fields["aspect"] = parameters.aspect
    if parameters.seed is not None:
        fields["seed"] = parameters.seed
    if parameters.count is not None:
        fields["count"] = parameters.count
    if parameters.negative:
        fields["negative"] = parameters.negative
    if parameters.fast:
        fields["fast"] = True
    shown = parameters.shown(style_name)
    if shown:
        fields["params"] = shown
    return fields
