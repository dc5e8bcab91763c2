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


def result_fields(result: JobResult) -> dict[str, bytes | str]:
    """A result as a Redis hash: everything but the pictures' bytes as JSON, each file its own raw value."""
    meta = dataclasses.asdict(result)
    meta["pictures"] = [
        {k: v for k, v in dataclasses.asdict(picture).items() if k not in ("png", "preview")}
        for picture in result.pictures
    ]
    fields: dict[str, bytes | str] = {"meta": json.dumps(meta)}
    for n, picture in enumerate(result.pictures):
        fields[f"png{n}"] = picture.png
        fields[f"preview{n}"] = picture.preview
    return fields


def result_from(fields: dict[bytes, bytes]) -> JobResult:
    meta = json.loads(fields[b"meta"])
    pictures = tuple(
        Picture(png=fields[f"png{n}".encode()], preview=fields[f"preview{n}".encode()], **facts)
        for n, facts in enumerate(meta.pop("pictures"))
    )
    return JobResult(pictures=pictures, **meta)


def text(value: bytes | str | None, default: str = "") -> str:
    if value is None:
        return default
    return value.decode() if isinstance(value, bytes) else value
