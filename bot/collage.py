"""A page of /history or /favorites as one picture: a numbered grid of thumbnails, made with PIL from the stored
pictures (a CPU moment, no GPU work), sent as one photo with a button per number."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageFont

TILE = 256  # px: a phone shows a 3×2 grid of these about as wide as the screen
COLUMNS = 3
GAP = 6
BACKGROUND = (24, 24, 28)
BADGE = (0, 0, 0, 170)


def collage(pictures: list[bytes | None]) -> bytes:
    """JPEG of the pictures in a grid, each with its number (1-based) in a corner; a missing one (None, or bytes
    that do not decode) is an empty tile with its number, so the numbers still match the buttons."""
    columns = min(COLUMNS, max(len(pictures), 1))
    rows = max(1, -(-len(pictures) // columns))
    sheet = Image.new("RGB", (columns * TILE + (columns + 1) * GAP, rows * TILE + (rows + 1) * GAP), BACKGROUND)
    font = _font()
    for index, data in enumerate(pictures):
        x = GAP + (index % columns) * (TILE + GAP)
        y = GAP + (index // columns) * (TILE + GAP)
        tile = _thumbnail(data)
        if tile is not None:
            sheet.paste(tile, (x + (TILE - tile.width) // 2, y + (TILE - tile.height) // 2))
        _badge(sheet, x, y, str(index + 1), font)
    out = io.BytesIO()
    sheet.save(out, "JPEG", quality=85)
    return out.getvalue()


def _thumbnail(data: bytes | None) -> Image.Image | None:
    if not data:
        return None
    try:
        opened = Image.open(io.BytesIO(data))
        opened.draft("RGB", (TILE, TILE))  # a JPEG decodes at a fraction of its size: fast
        image = opened.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    image.thumbnail((TILE, TILE))
    return image


def _badge(sheet: Image.Image, x: int, y: int, label: str, font: ImageFont.ImageFont | ImageFont.FreeTypeFont) -> None:
    overlay = Image.new("RGBA", (44, 40), BADGE)
    sheet.paste(overlay, (x, y), overlay)
    ImageDraw.Draw(sheet).text((x + 22, y + 20), label, fill=(255, 255, 255), font=font, anchor="mm")


def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=28)
    except TypeError:  # Pillow without FreeType: its small bitmap font
        return ImageFont.load_default()
