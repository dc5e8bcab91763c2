"""Hostile and odd picture files, generated on the fly (nothing binary is committed).

Each case says what a user would send and what must happen: decoded to a plain RGB picture
(`expect="ok"`, with the size expected after EXIF rotation) or refused with an engine ErrorCode.
Shared by the engine's decoder tests and the bot's end-to-end bad-input tests.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from dataclasses import dataclass

from PIL import Image


@dataclass(frozen=True)
class Case:
    name: str
    data: bytes
    file_name: str
    mime: str
    expect: str  # "ok" or an engine.api.ErrorCode value
    size: tuple[int, int] | None = None  # for "ok": (width, height) after decoding


def _save(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def _photo(size=(320, 240), mode="RGB") -> Image.Image:
    image = Image.radial_gradient("L").resize(size).convert("RGB")
    image.paste((220, 40, 40), (0, 0, size[0] // 3, size[1] // 3))  # a red corner to check orientation
    return image.convert(mode) if mode != "RGB" else image


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims width x height; its pixel data is a few bytes (the claim alone must be refused)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def _bomb() -> bytes:
    """A real decompression bomb: 48 MP of one grey value compresses to ~50 KB."""
    return _save(Image.new("L", (8000, 6000), 128), "PNG", optimize=False, compress_level=9)


def _exif_rotated() -> bytes:
    """Stored landscape 320x240 with Orientation=6 (rotate 90° CW to view) and a GPS position to strip."""
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x8825] = {1: "N", 2: (55.0, 45.0, 0.0), 3: "E", 4: (37.0, 37.0, 0.0)}  # GPS IFD: Moscow
    return _save(_photo(), "JPEG", exif=exif, quality=90)


def _animated(fmt: str) -> bytes:
    frames = [Image.new("RGB", (96, 64), color) for color in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    return _save(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


def _zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("photo.jpg", b"not really")
    return out.getvalue()


def _pdf() -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Count 0>>endobj\n"
        b"trailer<</Root 1 0 R>>\n%%EOF\n"
    )


def _mp4() -> bytes:
    return struct.pack(">I", 24) + b"ftypisom" + b"\x00\x00\x02\x00isomiso2" + b"\x00" * 64


def cases() -> list[Case]:
    return _plain_and_broken() + _unusual_formats() + _not_pictures()


def _plain_and_broken() -> list[Case]:
    """Ordinary photos, and files that look like pictures but are broken or must be refused."""
    jpeg = _save(_photo(), "JPEG", quality=90)
    png = _save(_photo(), "PNG")
    return [
        Case("plain jpeg", jpeg, "photo.jpg", "image/jpeg", "ok", (320, 240)),
        Case("plain png", png, "photo.png", "image/png", "ok", (320, 240)),
        Case("truncated jpeg", jpeg[: len(jpeg) // 2], "cut.jpg", "image/jpeg", "bad_image"),
        Case("truncated png", png[: len(png) // 2], "cut.png", "image/png", "bad_image"),
        Case("jpeg header then garbage", jpeg[:20] + bytes(range(256)) * 8, "garbage.jpg", "image/jpeg", "bad_image"),
        Case("png with a broken crc", png[:40] + b"\x00\x00\x00\x00" + png[44:], "crc.png", "image/png", "bad_image"),
        Case("random bytes", bytes((i * 7919) % 251 for i in range(4096)), "noise.jpg", "image/jpeg", "bad_image"),
        Case("empty file", b"", "empty.png", "image/png", "bad_image"),
        Case("decompression bomb", _bomb(), "bomb.png", "image/png", "image_too_large"),
        Case("30000x30000 header", _png_header_only(30000, 30000), "huge.png", "image/png", "image_too_large"),
        Case("over 20 MB", jpeg + b"\x00" * (20 * 1024 * 1024), "big.jpg", "image/jpeg", "image_too_large"),
        Case(
            "extreme aspect 40:1",
            _save(Image.new("RGB", (4000, 100), "white"), "PNG"),
            "strip.png",
            "image/png",
            "image_aspect",
        ),
        Case(
            "tall aspect 1:20",
            _save(Image.new("RGB", (60, 1200), "white"), "PNG"),
            "tall.png",
            "image/png",
            "image_aspect",
        ),
        Case("8x8 image", _save(Image.new("RGB", (8, 8), "red"), "PNG"), "tiny.png", "image/png", "image_too_small"),
    ]


def _unusual_formats() -> list[Case]:
    """Pictures in formats and modes people do send: each must decode."""
    sixteen = Image.new("I;16", (200, 150))
    sixteen.putdata([(x * 300) % 65535 for x in range(200 * 150)])
    palette = _photo().convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    palette_alpha = palette.copy()
    palette_alpha.info["transparency"] = 0
    rgba = _photo().convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(rgba.size))
    tiff_pages = [Image.new("RGB", (120, 90), (10, 200, 10)), Image.new("RGB", (60, 60), (0, 0, 0))]
    return [
        Case("animated gif", _animated("GIF"), "anim.gif", "image/gif", "ok", (96, 64)),
        Case("animated webp", _animated("WEBP"), "anim.webp", "image/webp", "ok", (96, 64)),
        Case("heic", _save(_photo(), "HEIF"), "IMG_0001.HEIC", "image/heic", "ok", (320, 240)),
        Case("avif", _save(_photo(), "AVIF"), "photo.avif", "image/avif", "ok", (320, 240)),
        Case("cmyk jpeg", _save(_photo(mode="CMYK"), "JPEG"), "cmyk.jpg", "image/jpeg", "ok", (320, 240)),
        Case("16-bit png", _save(sixteen, "PNG"), "deep.png", "image/png", "ok", (200, 150)),
        Case("palette png", _save(palette, "PNG"), "palette.png", "image/png", "ok", (320, 240)),
        Case("palette png with transparency", _save(palette_alpha, "PNG"), "ptrans.png", "image/png", "ok", (320, 240)),
        Case("rgba png", _save(rgba, "PNG"), "alpha.png", "image/png", "ok", (320, 240)),
        Case("grey+alpha png", _save(rgba.convert("LA"), "PNG"), "la.png", "image/png", "ok", (320, 240)),
        Case("greyscale jpeg", _save(_photo(mode="L"), "JPEG"), "grey.jpg", "image/jpeg", "ok", (320, 240)),
        Case("1-bit png", _save(_photo(mode="1"), "PNG"), "bits.png", "image/png", "ok", (320, 240)),
        Case("float tiff", _save(Image.new("F", (100, 80), 0.5), "TIFF"), "float.tif", "image/tiff", "ok", (100, 80)),
        Case(
            "two-page tiff",
            _save(tiff_pages[0], "TIFF", save_all=True, append_images=tiff_pages[1:]),
            "pages.tif",
            "image/tiff",
            "ok",
            (120, 90),
        ),
        Case("bmp", _save(_photo(), "BMP"), "photo.bmp", "image/bmp", "ok", (320, 240)),
        Case("exif-rotated jpeg with gps", _exif_rotated(), "rotated.jpg", "image/jpeg", "ok", (240, 320)),
    ]


def _not_pictures() -> list[Case]:
    return [
        Case("pdf", _pdf(), "report.pdf", "application/pdf", "bad_image"),
        Case("zip", _zip(), "photos.zip", "application/zip", "bad_image"),
        Case("text", "Привет, это не картинка\n".encode(), "note.txt", "text/plain", "bad_image"),
        Case(
            "svg",
            b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
            "logo.svg",
            "image/svg+xml",
            "bad_image",
        ),
        Case("video bytes", _mp4(), "clip.mp4", "video/mp4", "bad_image"),
        Case("html pretending to be png", b"<html><script>alert(1)</script></html>", "x.png", "image/png", "bad_image"),
    ]
