"""Styles are data: a YAML file of prompt templates (Fooocus-style), plus an administrator's own file."""

from __future__ import annotations

from dataclasses import dataclass, field
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
class Style:
    id: str
    names: dict[str, str]
    prompt: str = "{prompt}"
    negative: str = ""
    loras: tuple[LoraRef, ...] = ()
    embeddings: tuple[EmbeddingRef, ...] = ()
    steps: int | None = None
    guidance: float | None = None
    extra: dict = field(default_factory=dict, compare=False)

    def name(self, locale: str) -> str:
        return self.names.get(locale) or self.names.get("en") or self.id

    def apply(self, prompt: str, negative: str = "") -> tuple[str, str]:
        """The style's template around the user's prompt; the user's negative prompt joins the style's."""
        styled = self.prompt.replace("{prompt}", prompt.strip()).strip(" ,")
        negatives = ", ".join(part for part in (self.negative.strip(), negative.strip()) if part)
        return styled, negatives


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
    return Style(
        id=style_id,
        names={str(k): str(v) for k, v in names.items()},
        prompt=template,
        negative=str(record.get("negative", record.get("negative_prompt", "")) or ""),
        loras=loras,
        embeddings=embeddings,
        steps=record.get("steps"),
        guidance=record.get("guidance"),
    )


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
    return styles
