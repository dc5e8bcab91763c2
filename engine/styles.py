"""Styles are data: a YAML file of prompt templates (Fooocus-style), plus an administrator's own file."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

BUILTIN_STYLES = Path(__file__).with_name("styles.yaml")


class StyleError(ValueError):
    """A styles file that cannot be used; the message names the file and the style."""


@dataclass(frozen=True)
class LoraRef:
    file: Path
    strength: float = 1.0

    @property
    def adapter_name(self) -> str:
        return self.file.stem.replace(".", "_")


@dataclass(frozen=True)
class EmbeddingRef:
    file: Path
    token: str


@dataclass(frozen=True)
class Tag:
    """A toggle that adds a fragment to the prompt ("+ white background") or to the negative prompt ("− text")."""

    id: str
    names: dict[str, str]
    fragment: str
    negative: bool = False

    def name(self, locale: str) -> str:
        return self.names.get(locale) or self.names.get("en") or self.id

    def label(self, locale: str) -> str:
        return f"{'−' if self.negative else '+'} {self.name(locale)}"


@dataclass(frozen=True)
class Style:
    id: str
    names: dict[str, str]
    prompt: str = "{prompt}"
    negative: str = ""
    loras: tuple[LoraRef, ...] = ()
    embeddings: tuple[EmbeddingRef, ...] = ()
    steps: int | None = None
    guidance: float | None = None
    scheduler: str | None = None  # a short name of engine/samplers.py; None = the model's own
    guidance_rescale: float | None = None
    tags: tuple[Tag, ...] = ()  # the tags offered with this style: the global ones, then its own
    extra: dict = field(default_factory=dict, compare=False)

    def name(self, locale: str) -> str:
        return self.names.get(locale) or self.names.get("en") or self.id

    def apply(self, prompt: str, negative: str = "", tags: tuple[Tag, ...] = ()) -> tuple[str, str]:
        """The style's template around the user's prompt (with the chosen tags' fragments after it); the user's
        negative prompt and the negative tags join the style's negative prompt."""
        inner = ", ".join(part for part in (prompt.strip(), *(t.fragment for t in tags if not t.negative)) if part)
        styled = self.prompt.replace("{prompt}", inner).strip(" ,")
        parts = (self.negative.strip(), negative.strip(), *(t.fragment for t in tags if t.negative))
        return styled, ", ".join(part for part in parts if part)


def _parse(record: dict, source: Path, lora_dir: Path) -> Style:
    style_id = str(record.get("id", "")).strip()
    if not style_id:
        raise StyleError(f"{source}: a style without an id")
    template = str(record.get("prompt", "{prompt}"))
    if "{prompt}" not in template:
        raise StyleError(f"{source}: style {style_id!r} has no {{prompt}} in its template")
    names = record.get("name") or {}
    if isinstance(names, str):
        names = {"en": names}

    def resolve(file: str) -> Path:
        # Relative names: the LoRA folder first, then the folder of the styles file that names them.
        path = Path(file)
        if path.is_absolute() or (lora_dir / path).is_file():
            return path if path.is_absolute() else lora_dir / path
        return source.parent / path

    loras = tuple(
        LoraRef(resolve(item["file"]), float(item.get("strength", 1.0))) for item in record.get("loras") or ()
    )
    embeddings = tuple(
        EmbeddingRef(resolve(item["file"]), str(item["token"])) for item in record.get("embeddings") or ()
    )
    refs: tuple[LoraRef | EmbeddingRef, ...] = (*loras, *embeddings)
    for ref in refs:
        if not ref.file.is_file():
            raise StyleError(f"{source}: style {style_id!r} needs {ref.file}, which does not exist")
    scheduler = record.get("scheduler")
    if scheduler is not None:
        from .samplers import UnknownSampler, check

        try:
            check(str(scheduler))
        except UnknownSampler as error:
            raise StyleError(f"{source}: style {style_id!r}: {error}") from None
    return Style(
        id=style_id,
        names={str(k): str(v) for k, v in names.items()},
        prompt=template,
        negative=str(record.get("negative", record.get("negative_prompt", "")) or ""),
        loras=loras,
        embeddings=embeddings,
        steps=record.get("steps"),
        guidance=record.get("guidance"),
        scheduler=None if scheduler is None else str(scheduler),
        guidance_rescale=record.get("guidance_rescale"),
        tags=tuple(_tag(item, source, f"style {style_id!r}") for item in record.get("tags") or ()),
    )


def _tag(record: dict, source: Path, where: str) -> Tag:
    tag_id = str(record.get("id", "")).strip() if isinstance(record, dict) else ""
    fragment = str(record.get("prompt", record.get("negative", "")) or "").strip() if tag_id else ""
    if not tag_id or not fragment:
        raise StyleError(f"{source}: {where}: a tag needs an id and a prompt (or negative) fragment")
    names = record.get("name") or {}
    if isinstance(names, str):
        names = {"en": names}
    return Tag(tag_id, {str(k): str(v) for k, v in names.items()}, fragment, negative="prompt" not in record)


def load_tags(extra_file: Path | None = None) -> dict[str, Tag]:
    """The global tags (top-level `tags:` of the curated file, then the administrator's: the same id replaces)."""
    tags: dict[str, Tag] = {}
    for source in (BUILTIN_STYLES, extra_file):
        if source is None or not Path(source).is_file():
            continue
        data = yaml.safe_load(Path(source).read_text(encoding="utf-8")) or {}
        for record in (data.get("tags") or []) if isinstance(data, dict) else []:
            tag = _tag(record, Path(source), "tags")
            tags[tag.id] = tag
    return tags


def tags_for(style: Style, global_tags: dict[str, Tag]) -> dict[str, Tag]:
    """The tags a style offers: the global ones, then its own (an own tag with a global id replaces it)."""
    return global_tags | {tag.id: tag for tag in style.tags}


def load_styles(extra_file: Path | None = None, lora_dir: Path = Path("loras")) -> dict[str, Style]:
    """The curated styles, then the administrator's file (a style with the same id replaces the curated one)."""
    styles: dict[str, Style] = {}
    for source in (BUILTIN_STYLES, extra_file):
        if source is None:
            continue
        if not Path(source).is_file():
            raise StyleError(f"styles file {source} does not exist")
        data = yaml.safe_load(Path(source).read_text(encoding="utf-8")) or {}
        records = data.get("styles", data) if isinstance(data, dict) else data
        if not isinstance(records, list):
            raise StyleError(f"{source}: expected a list of styles under 'styles:'")
        for record in records:
            style = _parse(record, Path(source), lora_dir)
            styles[style.id] = style
    # Each style carries every tag it offers, the global ones first, so the bot needs nothing but the styles.
    global_tags = load_tags(extra_file)
    return {key: replace(style, tags=tuple(tags_for(style, global_tags).values())) for key, style in styles.items()}
