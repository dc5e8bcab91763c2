"""What crosses Redis: requests and results as JSON plus raw bytes (pictures), never pickle."""

from __future__ import annotations

import dataclasses
import json

from ..api import ImageRequest, JobResult, Mode, Origin, Picture

PREFIX = "easel:fleet:"
GROUP = "workers"  # the one consumer group of the work stream; each worker is a consumer in it


def key(*parts: str) -> str:
    return PREFIX + ":".join(parts)


def request_fields(request: ImageRequest) -> dict[str, bytes | str]:
    """A request as a Redis hash: its fields as JSON under "meta"; source pictures and any other bytes field (a mask)
    each as its own raw value."""
    meta: dict = {}
    fields: dict[str, bytes | str] = {}
    for f in dataclasses.fields(request):
        value = getattr(request, f.name)
        if isinstance(value, bytes):
            fields[f"raw:{f.name}"] = value
        elif f.name not in ("images", "origin"):
            meta[f.name] = value
    meta["mode"] = request.mode.value
    meta["origin"] = dataclasses.asdict(request.origin) if request.origin else None
    meta["images"] = len(request.images)
    fields["meta"] = json.dumps(meta)
    fields.update({f"img{n}": data for n, data in enumerate(request.images)})
    return fields


def request_from(fields: dict[bytes, bytes]) -> ImageRequest:
    meta = json.loads(fields[b"meta"])
    images = tuple(fields[f"img{n}".encode()] for n in range(meta.pop("images")))
    origin = meta.pop("origin")
    meta["mode"] = Mode(meta["mode"])
    meta["weights"] = tuple(meta["weights"])
    meta["tags"] = tuple(meta.get("tags", ()))  # a request from a bot without tags has none
    for name, value in fields.items():
        if name.startswith(b"raw:"):
            meta[name.decode().removeprefix("raw:")] = value
    return ImageRequest(**meta, images=images, origin=Origin(**origin) if origin else None)


PARTS = ("png", "preview")  # the files of each picture of a result, each one file of the picture store


def result_meta(result: JobResult) -> str:
    """A result without the pictures' bytes, as JSON (its files go to the picture store: `result_parts`)."""
    meta = dataclasses.asdict(result)
    meta["pictures"] = [
        {k: v for k, v in dataclasses.asdict(picture).items() if k not in PARTS} for picture in result.pictures
    ]
    return json.dumps(meta)


def result_parts(result: JobResult) -> dict[str, bytes]:
    """The pictures' files by part name: png0, preview0, png1..."""
    return {f"{part}{n}": getattr(picture, part) for n, picture in enumerate(result.pictures) for part in PARTS}


def part_names(meta: str | bytes) -> list[str]:
    """The part names of the files a result's JSON (result_meta) refers to."""
    return [f"{part}{n}" for n in range(len(json.loads(meta)["pictures"])) for part in PARTS]


def result_from(meta: str | bytes, parts: dict[str, bytes]) -> JobResult:
    facts = json.loads(meta)
    pictures = tuple(
        Picture(png=parts[f"png{n}"], preview=parts[f"preview{n}"], **picture)
        for n, picture in enumerate(facts.pop("pictures"))
    )
    return JobResult(pictures=pictures, **facts)


def text(value: bytes | str | None, default: str = "") -> str:
    if value is None:
        return default
    return value.decode() if isinstance(value, bytes) else value
