"""Photo + caption: the caption is the prompt and the photo guides.

With an IP-Adapter the photo is an image prompt (its content and look, not its layout); a requested strength
adds img2img from the photo (its layout too). Without an IP-Adapter it is img2img alone.
"""

from __future__ import annotations

from PIL import Image

from . import vary
from .image_prompt import SCALE_PHOTO_WITH_CAPTION, generate_like, picture_embeds

IMG2IMG_STRENGTH = 0.7


def run(studio, plans, hooks) -> list[list[Image.Image]]:
    return [_photo_prompt(studio, plan, hooks) for plan in plans]


def _photo_prompt(studio, plan, hooks) -> list[Image.Image]:
    photo, strength = plan.sources[0], plan.request.strength
    if not studio.models.ip_adapter:
        return vary.img2img(studio, plan, hooks, photo, strength or IMG2IMG_STRENGTH)
    if strength is None:
        return generate_like(studio, plan, hooks, [photo], (), SCALE_PHOTO_WITH_CAPTION)
    with studio.models.ip_adapter.attached(SCALE_PHOTO_WITH_CAPTION):
        embeds = picture_embeds(studio, [photo], (), len(plan.seeds), plan.guidance)
        return vary.img2img(studio, plan, hooks, photo, strength, ip_adapter_image_embeds=[embeds])
