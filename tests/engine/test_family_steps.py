"""A request for fewer steps than a family's scheduler can take is drawn with the fewest it can: Qwen-Image's
scheduler stretches its sigmas to a terminal value, which divides by zero at one step (NaN, a black picture)."""

from __future__ import annotations

import io
import json

import numpy as np
import torch
from PIL import Image

from engine.api import ImageRequest
from engine.settings import EngineSettings
from engine.studio import Hooks, Studio


def test_one_step_on_qwen_image_draws_a_picture_with_two(engine_cache):
    torch.set_num_threads(1)
    studio = Studio(EngineSettings(model="tiny-qwen-image", cache_dir=engine_cache, quality_steps=1, warmup=False))
    plan = studio.plan(ImageRequest(prompt="a red fox", count=1, seed=3))
    assert plan.steps == 2
    picture = studio.run([plan], Hooks())[0].pictures[0]
    image = Image.open(io.BytesIO(picture.png))
    assert np.asarray(image).astype(float).std() > 1, "a flat picture: the sigmas were NaN"
    assert json.loads(image.info["easel"])["steps"] == 2
