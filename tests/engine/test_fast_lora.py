"""⚡ Fast with a few-step LoRA (ENGINE_FAST_LORA): a fast request draws with the "fast" adapter on, beside its style's
LoRAs, under the scheduler that LoRA wants (LCM on the SD families; Qwen-Image Lightning keeps the family's own
flow-matching one, guidance off); a quality request draws exactly what it draws without the LoRA. The LoRAs are made
here with peft, on the tiny kits' own denoisers."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine.api import ImageRequest, Mode
from engine.models import resolve_model
from engine.perf import denoiser
from engine.settings import EngineSettings
from engine.studio import Hooks, Studio

TINY = dict(native_size=64, quality_steps=2, fast_steps=2, warmup=False)
NO_SIDE_MODELS = dict(ip_adapter="none", structure_adapter="none", upscaler="none", llm="none")
FOX = dict(prompt="a red fox", count=1, seed=3)


def lora_file(model: torch.nn.Module, pipeline_class, folder: Path, layers: str) -> Path:
    """A random LoRA (lora_B random too, so it visibly changes the output) over `model`, saved as diffusers saves."""
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    torch.manual_seed(5)
    targets = ["to_q", "to_k", "to_v", "to_out.0"]
    model.add_adapter(LoraConfig(r=4, lora_alpha=4, init_lora_weights=False, target_modules=targets))
    state = get_peft_model_state_dict(model)
    pipeline_class.save_lora_weights(folder, **{layers: state}, weight_name="fast.safetensors")
    return folder / "fast.safetensors"


def adapters_on(studio: Studio) -> set[str]:
    """The LoRA adapters the shared denoiser runs with now (none while LoRA is switched off)."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    layer = next(m for m in denoiser(studio.models).modules() if isinstance(m, BaseTunerLayer))
    return set() if layer.disable_adapters else set(layer.active_adapters)


def drawn(studio: Studio, plan) -> np.ndarray:
    picture = studio.run([plan], Hooks())[0].pictures[0]
    return np.asarray(Image.open(io.BytesIO(picture.png))).astype(int)


def draw(studio: Studio, **fields) -> np.ndarray:
    return drawn(studio, studio.plan(ImageRequest(**FOX, **fields)))


@pytest.fixture(scope="module")
def sd(engine_cache, tmp_path_factory) -> tuple[Studio, Studio]:
    """(the tiny SD kit without a fast LoRA, the same with one); a brand style with its own LoRA, steps, guidance."""
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel

    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("fast-lora")
    styles = folder / "styles.yaml"
    styles.write_text(
        "styles:\n  - {id: brand, prompt: '{prompt}, brand look', steps: 5, guidance: 4.5,\n"
        "     loras: [{file: tiny_style.safetensors, strength: 0.8}]}\n"
    )
    settings = EngineSettings(model="tiny", cache_dir=engine_cache, styles_file=styles, **TINY, **NO_SIDE_MODELS)
    unet = UNet2DConditionModel.from_pretrained(Path(resolve_model(settings)) / "unet")
    lora = lora_file(unet, StableDiffusionPipeline, folder, "unet_lora_layers")
    return Studio(settings), Studio(settings.model_copy(update={"fast_lora": str(lora)}))


def test_a_fast_request_draws_with_the_fast_lora_under_lcm(sd):
    plain, fast = sd
    assert fast.models.fast_adapter == "fast"
    with_lora = draw(fast, profile="fast")
    pipe = fast.models.text2img
    assert adapters_on(fast) == {"fast"} and type(pipe.scheduler).__name__ == "LCMScheduler"
    without = draw(plain, profile="fast")
    assert type(plain.models.text2img.scheduler).__name__ == "EulerDiscreteScheduler"  # fewer steps of its own
    assert not np.array_equal(with_lora, without)
    assert np.array_equal(with_lora, draw(fast, profile="fast"))  # the same seed, the same picture


def test_a_quality_request_draws_as_without_the_fast_lora(sd):
    plain, fast = sd
    draw(fast, profile="fast")  # the adapter was on for the call before
    with_lora_loaded = draw(fast, profile="quality")
    assert adapters_on(fast) == set()
    assert type(fast.models.text2img.scheduler).__name__ == "EulerDiscreteScheduler"
    assert np.array_equal(with_lora_loaded, draw(plain, profile="quality"))


def test_the_fast_lora_joins_the_style_lora_and_keeps_its_own_steps_and_guidance(sd):
    plain, fast = sd
    plan = fast.plan(ImageRequest(**FOX, style="brand", profile="fast"))
    assert (plan.steps, plan.guidance, plan.fast_lora) == (2, 1.5, True)  # the profile's, not the style's 5 and 4.5
    without = plain.plan(ImageRequest(**FOX, style="brand", profile="fast"))
    assert (without.steps, without.guidance, without.fast_lora) == (5, 4.5, False)  # no LoRA: the style's own
    drawn(fast, plan)
    assert adapters_on(fast) == {"tiny_style", "fast"}
    draw(fast, style="brand", profile="quality")
    assert adapters_on(fast) == {"tiny_style"}


def test_fast_and_quality_requests_never_share_a_call(sd):
    _, fast = sd
    quick, slow = (fast.plan(ImageRequest(**FOX, profile=profile)) for profile in ("fast", "quality"))
    assert fast.batch_key(quick) != fast.batch_key(slow)
    # Even with the same steps and guidance asked for: the adapter state differs.
    quick, slow = (fast.plan(ImageRequest(**FOX, profile=p, steps=2)) for p in ("fast", "quality"))
    assert fast.batch_key(quick) != fast.batch_key(slow)


@pytest.fixture(scope="module")
def qwen(engine_cache, tmp_path_factory) -> Studio:
    """The tiny Qwen-Image kit (with its edit model) and a fast LoRA over its text-to-image transformer."""
    from diffusers import QwenImagePipeline
    from diffusers.models import QwenImageTransformer2DModel

    settings = EngineSettings(model="tiny-qwen-image", cache_dir=engine_cache, **TINY, upscaler="none", llm="none")
    transformer = QwenImageTransformer2DModel.from_pretrained(Path(resolve_model(settings)) / "transformer")
    lora = lora_file(transformer, QwenImagePipeline, tmp_path_factory.mktemp("qwen"), "transformer_lora_layers")
    return Studio(settings.model_copy(update={"fast_lora": str(lora)}))


def test_qwen_image_lightning_keeps_its_flow_matching_scheduler_with_guidance_off(qwen):
    studio = qwen
    plan = studio.plan(ImageRequest(**FOX, profile="fast"))
    assert plan.fast_lora and plan.guidance == 1.0  # Lightning: no true CFG (engine/modes/pipes.py)
    with_lora = drawn(studio, plan)
    pipe = studio.models.text2img
    assert adapters_on(studio) == {"fast"} and type(pipe.scheduler).__name__ == "FlowMatchEulerDiscreteScheduler"
    unadapted = studio.plan(ImageRequest(**FOX, profile="fast"))
    unadapted.fast_lora = False
    assert not np.array_equal(with_lora, drawn(studio, unadapted))
    draw(studio, profile="quality")
    assert adapters_on(studio) == set()


def test_a_fast_request_on_a_pipeline_with_its_own_transformer_draws_without_the_fast_lora(qwen, sample_bytes):
    """The edit model (Qwen-Image-Edit) has a transformer of its own, which the text-to-image LoRA was not made for:
    a fast edit draws on it in the fast profile's steps, without the adapter, rather than failing."""
    studio = qwen
    cat = sample_bytes("chelsea.png")
    plan = studio.plan(ImageRequest(mode=Mode.EDIT, images=(cat,), instruction="make it red", seed=3, profile="fast"))
    assert plan.fast_lora
    assert drawn(studio, plan).std() > 1
