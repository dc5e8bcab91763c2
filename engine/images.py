"""Pictures in and out: safe decoding of users' files (once each), clean copies of them to keep, and PNG/JPEG
encoding with parameters embedded."""

from __future__ import annotations

import io
import json
import struct
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, PngImagePlugin

from .api import BadImage, ErrorCode, Picture, one_line

try:  # iPhone photos sent as files arrive as HEIC
    import pillow_heif
except ImportError:  # pragma: no cover - optional on exotic platforms
    pass
else:
    pillow_heif.register_heif_opener()

MAX_INPUT_BYTES = 20 * 1024 * 1024  # Telegram's getFile limit; nothing bigger can reach us anyway
MAX_INPUT_PIXELS = 40_000_000  # ~ 7700x5200: camera photos pass, decompression bombs do not
MIN_INPUT_SIDE = 32
MAX_INPUT_ASPECT = 8.0
PREVIEW_LONG_SIDE = 1280
PREVIEW_QUALITY = 90
# A clean copy of a big photo is kept as JPEG (PNG of 40 MP is slow and huge); small ones stay lossless.
LOSSLESS_PIXELS = 4_000_000
JPEG_QUALITY = 95
# Pillow only warns between MAX_IMAGE_PIXELS and twice that; we refuse before decoding instead.
Image.MAX_IMAGE_PIXELS = MAX_INPUT_PIXELS

# The exceptions Pillow's own fuzzers treat as "expected" for hostile input.
# EOFError, IndexError, KeyError and struct.error also escape some decoders on truncated files; Pillow's AVIF
# plugin reports a truncated file as RuntimeError ("Failed to decode frame 0: Decoding of color planes failed").
_DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    MemoryError,
    NotImplementedError,
    OverflowError,
    Image.DecompressionBombError,
    EOFError,
    IndexError,
    KeyError,
    struct.error,
    RuntimeError,
)


@dataclass(frozen=True)
class Source:
    """A user's file, decoded once: the picture, and the generation parameters it carries if it is one of ours."""

    picture: Image.Image  # RGB, first frame, EXIF rotation applied, no metadata
    parameters: dict | None = None  # what read_parameters would say; None for any other file


def decode_source(data: bytes) -> Source:
    """A user's file as an RGB picture: first frame, EXIF rotation applied, EXIF and other metadata dropped; the
    parameters a picture of ours carries come from the same opening of the file.

    Raises BadImage with a code the bot turns into a message (too large, too small, odd aspect, not an image).
    """
    if len(data) > MAX_INPUT_BYTES:
        raise BadImage("file over 20 MB", ErrorCode.IMAGE_TOO_LARGE)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                width, height = probe.size
                if width * height > MAX_INPUT_PIXELS:
                    raise BadImage(f"{width}x{height} is too many pixels", ErrorCode.IMAGE_TOO_LARGE)
                parameters = _parameters(probe)  # before load: the chunks read_parameters sees, no more
                probe.seek(0)  # animated GIF/WebP: the first frame
                probe.load()
                image = ImageOps.exif_transpose(probe)
                image = _to_rgb(image)
    except BadImage:
        raise
    except Image.DecompressionBombError as error:
        raise BadImage(str(error), ErrorCode.IMAGE_TOO_LARGE) from None
    except Image.DecompressionBombWarning as error:
        raise BadImage(str(error), ErrorCode.IMAGE_TOO_LARGE) from None
    except _DECODE_ERRORS as error:
        raise BadImage(f"not a picture: {type(error).__name__}", ErrorCode.BAD_IMAGE) from None
    if min(image.size) < MIN_INPUT_SIDE:
        raise BadImage(f"{image.size} is too small", ErrorCode.IMAGE_TOO_SMALL)
    if max(image.size) / min(image.size) > MAX_INPUT_ASPECT:
        raise BadImage(f"{image.size} is too narrow", ErrorCode.IMAGE_ASPECT)
    return Source(image, parameters)


def decode_image(data: bytes) -> Image.Image:
    """The picture alone of `decode_source` (same bounds, same BadImage refusals)."""
    return decode_source(data).picture


def clean_picture(data: bytes) -> bytes:
    """The user's file as the picture to keep: decoded with the engine's bounds (raises engine BadImage), then
    re-encoded without metadata, so that EXIF (GPS!) is never stored nor sent on. A picture of ours is kept as
    it is: its embedded generation parameters are what a follow-up request reads back (and it has no EXIF)."""
    source = decode_source(data)
    if source.parameters is not None:
        return data
    out = io.BytesIO()
    if source.picture.width * source.picture.height <= LOSSLESS_PIXELS:
        source.picture.save(out, format="PNG", compress_level=1)
    else:
        source.picture.save(out, format="JPEG", quality=JPEG_QUALITY, subsampling=0)
    return out.getvalue()


def stored_picture(png: bytes, seed: int) -> Picture:
    """A picture of ours kept as its file, as a result Picture again (its chat preview made anew): a client that
    stored a result can deliver it later without the engine."""
    image = decode_image(png)
    return Picture(png, encode_preview(image), seed, image.width, image.height)


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any mode (CMYK, 16-bit, palette, alpha, grayscale) to plain 8-bit RGB; transparency becomes white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        image = image.point(lambda v: v / 256).convert("L")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image.convert("RGBA"), mask=image.convert("RGBA").getchannel("A"))
        return background
    fresh = image.convert("RGB")
    fresh.info = {}  # nothing of the original file's metadata (EXIF, GPS, ICC comments) travels on
    return fresh


@dataclass(frozen=True)
class Parameters:
    """Generation parameters, embedded in every PNG (A1111's "parameters" chunk plus JSON) for reproducibility."""

    prompt: str
    negative_prompt: str
    style: str
    seed: int
    model: str
    steps: int
    guidance: float
    width: int
    height: int
    mode: str
    user_prompt: str = ""
    family: str = ""  # the model family (engine/families): sd15, sdxl, flux2_klein, kandinsky5, qwen_image
    # A derived picture: the request and picture it came from, and that picture's seed (None: a user's photo).
    source_job: str = ""
    source_picture: int = 0
    source_seed: int | None = None
    instruction: str = ""  # EDIT / INPAINT: what the user asked to change, as typed

    def a1111(self) -> str:
        text = (
            f"{self.prompt}\nNegative prompt: {self.negative_prompt}\n"
            f"Steps: {self.steps}, CFG scale: {self.guidance}, Seed: {self.seed}, "
            f"Size: {self.width}x{self.height}, Model: {self.model}, Style: {self.style}, Mode: {self.mode}"
        )
        if self.family:
            text += f", Family: {self.family}"
        if self.source_job:
            text += f", Source: {self.source_job}/{self.source_picture}, Source seed: {self.source_seed}"
        if self.instruction:
            text += f", Instruction: {one_line(self.instruction)}"
        return text


def encode_png(image: Image.Image, params: Parameters | None) -> bytes:
    info = PngImagePlugin.PngInfo()
    if params is not None:
        info.add_itxt("parameters", params.a1111())
        info.add_itxt("easel", json.dumps(params.__dict__, ensure_ascii=False))
    out = io.BytesIO()
    image.save(out, format="PNG", pnginfo=info, compress_level=4)
    return out.getvalue()


def read_parameters(data: bytes) -> dict | None:
    """The parameters a picture of ours carries, or None for any other file."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return _parameters(image)
    except _DECODE_ERRORS:
        return None


def _parameters(image: Image.Image) -> dict | None:
    """Our JSON chunk of an opened file; anything else there (a forged or broken chunk) counts as none."""
    raw = image.info.get("easel") if image.format == "PNG" else None
    try:
        parameters = json.loads(raw) if raw else None
    except (ValueError, TypeError, RecursionError):
        return None
    return parameters if isinstance(parameters, dict) else None


def encode_preview(image: Image.Image, long_side: int = PREVIEW_LONG_SIDE) -> bytes:
    """A JPEG for a chat photo: Telegram recompresses photos anyway and wants ≤ 10 MB, w + h ≤ 10000."""
    preview = image.convert("RGB")
    if max(preview.size) > long_side:
        preview = preview.copy()
        preview.thumbnail((long_side, long_side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    preview.save(out, format="JPEG", quality=PREVIEW_QUALITY, optimize=True)
    return out.getvalue()


DOCUMENT_LIMIT = 50 * 1024 * 1024  # Telegram's sendDocument limit


def encode_document(image: Image.Image, params: Parameters | None, limit: int = DOCUMENT_LIMIT) -> tuple[bytes, str]:
    """PNG when it fits the limit (a 4K PNG of a detailed picture may not), else a high-quality JPEG."""
    png = encode_png(image, params)
    if len(png) <= limit:
        return png, "png"
    for quality in (97, 93, 88):
        out = io.BytesIO()
        exif = Image.Exif()
        if params is not None:
            exif[0x9286] = params.a1111()  # UserComment: the parameters travel with the JPEG too
        image.convert("RGB").save(out, format="JPEG", quality=quality, subsampling=0, exif=exif)
        if out.tell() <= limit:
            return out.getvalue(), "jpeg"
    raise ValueError("picture does not fit the document limit even as JPEG")
