"""Zoom out / change aspect: the picture on a canvas of the new aspect, the new border outpainted.

The inpainting pipeline on the shared 4-channel UNet paints the border (mask = the border plus a thin band of
the old picture along the sides that touch it, so the seam is repainted too). The old picture's pixels are then
laid back over the result with a feathered edge, so it stays exactly as it was.
`ImageRequest.zoom` > 1 shrinks the picture further inside the canvas (Midjourney's Zoom Out 1.5x / 2x); a picture
that already has the requested aspect is zoomed out by SAME_ASPECT_ZOOM, so the button always extends it.
"""

from __future__ import annotations

from PIL import Image, ImageChops, ImageDraw, ImageFilter

from . import pipes

FEATHER = 0.04  # of the picture's shorter side: the band of the old picture repainted and blended
MIN_FEATHER_PX = 4
SAME_ASPECT_ZOOM = 1.5  # Midjourney's "Zoom Out 1.5x"


def run(studio, plans, hooks) -> list[list[Image.Image]]:
    return [zoom_out(studio, plan, hooks) for plan in plans]


def layout(source: tuple[int, int], canvas: tuple[int, int], zoom: float) -> tuple[int, int, int, int]:
    """(x, y, width, height) of the picture centred on the canvas: as large as fits, divided by `zoom`."""
    (sw, sh), (cw, ch) = source, canvas
    scale = min(cw / sw, ch / sh) / zoom
    width, height = min(cw, max(1, round(sw * scale))), min(ch, max(1, round(sh * scale)))
    return (cw - width) // 2, (ch - height) // 2, width, height


def masks(canvas: tuple[int, int], box: tuple[int, int, int, int]) -> tuple[Image.Image, Image.Image]:
    """(mask for the pipeline: white = paint, hard; soft mask for laying the old picture back)."""
    (cw, ch), (x, y, w, h) = canvas, box
    feather = max(MIN_FEATHER_PX, round(min(w, h) * FEATHER))
    # Keep the picture less a band along each side that has new border next to it.
    keep = (
        x + (feather if x > 0 else 0),
        y + (feather if y > 0 else 0),
        x + w - (feather if x + w < cw else 0),
        y + h - (feather if y + h < ch else 0),
    )
    paint = Image.new("L", canvas, 255)
    ImageDraw.Draw(paint).rectangle((keep[0], keep[1], keep[2] - 1, keep[3] - 1), fill=0)
    outside = Image.new("L", canvas, 255)
    ImageDraw.Draw(outside).rectangle((x, y, x + w - 1, y + h - 1), fill=0)
    # Blurred inside the band only: the new border stays fully painted.
    soft = ImageChops.lighter(paint.filter(ImageFilter.GaussianBlur(feather / 2)), outside)
    return paint, soft


def zoom_out(studio, plan, hooks) -> list[Image.Image]:
    canvas_size = (plan.width, plan.height)
    zoom = plan.request.zoom
    box = layout(plan.sources[0].size, canvas_size, zoom)
    if zoom == 1 and box[2] >= 0.98 * canvas_size[0] and box[3] >= 0.98 * canvas_size[1]:
        box = layout(plan.sources[0].size, canvas_size, SAME_ASPECT_ZOOM)  # nothing to extend otherwise
    x, y, w, h = box
    picture = plan.sources[0].resize((w, h), Image.Resampling.LANCZOS)
    # The border starts as the picture stretched and blurred: colours to start from, if the strength is below 1.
    canvas = picture.resize(canvas_size, Image.Resampling.BILINEAR).filter(ImageFilter.GaussianBlur(max(w, h) / 16))
    canvas.paste(picture, (x, y))
    paint, soft = masks(canvas_size, box)
    pipe = studio.models.inpaint
    studio.prepare(pipe, plan)
    # A copy per picture: SD's inpainting pipelines VAE-sample one source picture with the first generator only,
    # so picture 2 would not be what its seed makes alone.
    count = len(plan.seeds)
    images = pipes.call(
        studio,
        pipe,
        hooks,
        plan.steps,
        plan,
        image=[canvas] * count,
        mask_image=[paint] * count,
        width=plan.width,
        height=plan.height,
        strength=1.0,
        num_inference_steps=plan.steps,
        **pipes.text_args(studio, plan),
    )
    return [Image.composite(image.resize(canvas_size), canvas, soft) for image in images]
