"""The mask of a region to repaint, as a client sends it: decoded with the same bounds as any picture, one bit a
pixel. PIL only, so a client (the bot's Mini App server) checks a mask with the very rules the engine applies.

A mask is an image of the source picture's exact size; a pixel is to be repainted where it is opaque and light
(a PNG drawn in white on black, or white strokes on a transparent canvas).
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageStat

from .api import BadImage, BadRequest, ErrorCode
from .images import _DECODE_ERRORS, MAX_INPUT_BYTES, MAX_INPUT_PIXELS

# Less than this share painted counts as nothing (a stray tap); more than FULL is a new picture, not a region.
EMPTY = 0.0005
FULL = 0.97


def read_mask(data: bytes, size: tuple[int, int]) -> Image.Image:
    """The mask as mode "L", 255 = repaint, 0 = keep. Raises BadImage (not an image, too big) or BadRequest
    (another size than the picture's; EMPTY_MASK when nothing is painted)."""
    if len(data) > MAX_INPUT_BYTES:
        raise BadImage("mask over 20 MB", ErrorCode.IMAGE_TOO_LARGE)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                if probe.size[0] * probe.size[1] > MAX_INPUT_PIXELS:
                    raise BadImage("mask has too many pixels", ErrorCode.IMAGE_TOO_LARGE)
                probe.load()
                image = probe.convert("RGBA")
    except BadImage:
        raise
    except (*_DECODE_ERRORS, Image.DecompressionBombWarning) as error:
        raise BadImage(f"mask is not a picture: {type(error).__name__}", ErrorCode.BAD_IMAGE) from None
    if image.size != tuple(size):
        raise BadRequest(f"mask is {image.size[0]}x{image.size[1]}, the picture {size[0]}x{size[1]}")
    # Light and opaque: multiply luminance by alpha, so transparent white strokes count as nothing.
    light = Image.composite(image.convert("L"), Image.new("L", image.size, 0), image.getchannel("A"))
    mask = light.point(lambda value: 255 if value >= 128 else 0)
    if coverage(mask) < EMPTY:
        raise BadRequest("nothing is painted in the mask", ErrorCode.EMPTY_MASK)
    return mask


def coverage(mask: Image.Image) -> float:
    """The share of the picture to repaint, 0..1."""
    return ImageStat.Stat(mask).mean[0] / 255
