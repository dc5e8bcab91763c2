"""Every model family through the studio, on its offline tiny kit (SD1.5, SDXL, FLUX.2 klein, Kandinsky 5,
Qwen-Image): each mode a family claims answers with pictures of the size the engine promises (every aspect, where
the mode takes one), the same pixels for the same seed (alone or batched with other users), counts every step,
stops when cancelled, runs on one set of weights; and a Russian prompt reaches a multilingual encoder as typed."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
from collections.abc import Callable, Iterator

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from engine import prompts
from engine.api import ASPECTS, ImageRequest, Mode
from engine.api import MODES as FACTS
from engine.families import UnknownFamily, detect
from engine.settings import EngineSettings
from engine.studio import Hooks, Studio
from engine.tiny_families import NATIVE

KITS = {"tiny": "sd15", "tiny-sdxl": "sdxl", "tiny-flux2": "flux2_klein", "tiny-kandinsky5": "kandinsky5",
        "tiny-qwen-image": "qwen_image"}  # fmt: skip
MULTILINGUAL = ("tiny-flux2", "tiny-kandinsky5", "tiny-qwen-image")
# The modes of issue 11's table, named (not frozenset(Mode)): a mode added later is not claimed by accident.
TABLE = frozenset({Mode.GENERATE, Mode.VARY, Mode.RESTYLE, Mode.REIMAGINE, Mode.MIX, Mode.REMIX, Mode.PHOTO_PROMPT,
                   Mode.UPSCALE, Mode.ZOOM})  # fmt: skip
# Issue 14's modes: ✏️ Edit and 🖌 Region.
EDITS = frozenset({Mode.EDIT, Mode.INPAINT})
MODES = TABLE | EDITS
CLAIMS = {
    "tiny": MODES,
    "tiny-sdxl": MODES,
    "tiny-flux2": MODES,
    "tiny-kandinsky5": MODES - {Mode.MIX, Mode.ZOOM, Mode.INPAINT},
    "tiny-qwen-image": MODES,
}
GRID = [(kit, mode) for kit in KITS for mode in sorted(CLAIMS[kit])]
ASPECT_GRID = [(kit, mode) for kit, mode in GRID if FACTS[mode].aspect]  # generate, restyle, mix, zoom
CAT, COFFEE = (451, 300), (600, 400)  # chelsea.png, coffee.png


def settings_for(model: str, cache) -> EngineSettings:
    # upscale_tile 256: the GAN enlarges in four tiles, so a 4K job can be cancelled between them on every family.
    return EngineSettings(model=model, cache_dir=cache, quality_steps=2, warmup=False, upscale_long_side=512,
                          upscale_tile=256)  # fmt: skip


@pytest.fixture(scope="module")
def qwen_edit_at_kit_size() -> Iterator[None]:
    """Qwen-Image-Edit-Plus VAE-encodes every input picture at 1024² (the real model's own size), seconds per call
    on the 128 px kit; here it encodes them at the kit's size, as the real one does at its own."""
    from diffusers.pipelines.qwenimage import pipeline_qwenimage_edit_plus as plus

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(plus, "VAE_IMAGE_SIZE", NATIVE * NATIVE)
        yield


@pytest.fixture(scope="module")
def studios(engine_cache, qwen_edit_at_kit_size) -> Callable[[str], Studio]:
    """Each kit loaded once for the whole module, when a test first asks for it."""
    torch.set_num_threads(1)
    loaded: dict[str, Studio] = {}

    def studio(kit: str) -> Studio:
        if kit not in loaded:
            loaded[kit] = Studio(settings_for(kit, engine_cache))
        return loaded[kit]

    return studio


@pytest.fixture(scope="module", params=list(KITS))
def studio(request, studios) -> Studio:
    return studios(request.param)


def make(studio: Studio, hooks: Hooks | None = None, **fields):
    return studio.run([studio.plan(ImageRequest(**fields))], hooks or Hooks())[0]


def pixels(picture) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(picture.png))).astype(int)


def params(picture) -> dict:
    return json.loads(Image.open(io.BytesIO(picture.png)).info["easel"])


def case(sample_bytes, mode: Mode) -> dict:
    """A typical request of each mode, about the cat photo (a mix: the coffee photo first)."""
    cat, coffee = sample_bytes("chelsea.png"), sample_bytes("coffee.png")
    return {
        Mode.GENERATE: dict(prompt="a red fox in the snow"),
        Mode.VARY: dict(images=(cat,), prompt="a cat"),
        Mode.RESTYLE: dict(images=(cat,), prompt="a cat", style="watercolor", aspect=""),
        Mode.REIMAGINE: dict(images=(cat,)),
        Mode.MIX: dict(images=(coffee, cat), weights=(0.5, 0.5), aspect=""),
        Mode.REMIX: dict(images=(cat,), prompt="a tiger in the snow"),
        Mode.PHOTO_PROMPT: dict(images=(cat,), prompt="a cat astronaut"),
        Mode.ZOOM: dict(images=(cat,), aspect="9:16"),
        Mode.UPSCALE: dict(images=(cat,)),
        Mode.EDIT: dict(images=(cat,), instruction="make the cat black"),
        Mode.INPAINT: dict(images=(cat,), instruction="a red hat", mask=mask_png(CAT, (150, 60, 300, 200))),
    }[mode]


def mask_png(size: tuple[int, int], box: tuple[int, int, int, int] | None) -> bytes:
    """White where to repaint, on black."""
    image = Image.new("L", size, 0)
    if box is not None:
        ImageDraw.Draw(image).rectangle(box, fill=255)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def test_the_family_is_found_from_the_folder_and_offers_exactly_what_it_claims(studio):
    model = studio.settings.model
    assert studio.models.family == KITS[model] and studio.models.spec.name == KITS[model]
    assert studio.available_modes() & MODES == CLAIMS[model]
    for mode in MODES - CLAIMS[model]:  # every gap has its reason (the README's family table says the same)
        assert studio.models.spec.gaps[mode]


def test_engine_family_overrides_the_folder_and_an_unknown_one_is_refused(tiny_kit):
    assert detect(str(tiny_kit / "sd15")).name == "sd15"
    assert detect(str(tiny_kit / "sd15"), "sdxl").name == "sdxl"
    with pytest.raises(UnknownFamily, match="ENGINE_FAMILY"):
        detect(str(tiny_kit / "sd15"), "dalle")


# ---- the grid: every kit x every mode it claims --------------------------------------------------------------
def assert_counts_every_step(events: list[tuple[int, int]], mode: Mode) -> None:
    """One progress bar per job: a fixed total, and every step from 1 up to it in order (a tiled 4K pass may report
    a step twice)."""
    totals = {total for _, total in events}
    assert len(totals) == 1, (mode, events)
    steps = [step for step, _ in events]
    assert steps == sorted(steps) and sorted(set(steps)) == list(range(1, totals.pop() + 1)), (mode, events)


def assert_promised_size(studio: Studio, picture, mode: Mode) -> None:
    """What the engine promises for a mode whose size comes from its picture (engine.api.MODES: no aspect), or from
    the aspect the request named: about the model's native area, on its grid, in the source's shape."""
    size = (picture.width, picture.height)
    assert Image.open(io.BytesIO(picture.png)).size == size, mode
    if mode == Mode.UPSCALE:  # the long side the server is set to, the photo's shape
        assert max(size) == studio.settings.upscale_long_side and abs(size[0] / size[1] - CAT[0] / CAT[1]) < 0.01
        return
    if mode == Mode.INPAINT:  # repainted in place: the photo's own size
        assert size == CAT
        return
    if mode == Mode.EDIT and studio.models.family == "flux2_klein":  # the photo's own size (at most 4x native area)
        assert size[0] % 16 == 0 and size[1] % 16 == 0 and abs(size[0] / size[1] - CAT[0] / CAT[1]) < 0.05, size
        assert abs(size[0] * size[1] / min(CAT[0] * CAT[1], 4 * studio.models.native**2) - 1) < 0.15, size
        return
    shape = {Mode.GENERATE: (1, 1), Mode.MIX: COFFEE, Mode.ZOOM: (9, 16)}.get(mode, CAT)  # a mix: its first photo
    assert abs(size[0] / size[1] - shape[0] / shape[1]) < 0.15, (mode, size)
    assert_native(studio, size, mode)


def assert_native(studio: Studio, size: tuple[int, int], why: object) -> None:
    multiple, native = studio.models.multiple, studio.models.native
    assert size[0] % multiple == 0 and size[1] % multiple == 0, (why, size)
    assert abs(size[0] * size[1] / native**2 - 1) < 0.25, (why, size)


@pytest.mark.parametrize(("kit", "mode"), GRID)
def test_each_claimed_mode_counts_its_steps_repeats_each_seed_alone_and_stops_when_cancelled(
    studios, sample_bytes, kit, mode
):
    """Same seed, same pixels: picture 2 of a request is what its reported seed (the one a user sees under it)
    makes alone; progress counts every step of the job; a cancel asked at the first step stops the job there."""
    studio, fields = studios(kit), case(sample_bytes, mode)
    count = 1 if FACTS[mode].single else 2
    events: list[tuple[int, int]] = []
    first = make(studio, Hooks(progress=lambda s, t: events.append((s, t))), mode=mode, count=count, seed=40,
                 **fields)  # fmt: skip
    assert_counts_every_step(events, mode)
    assert [p.seed for p in first.pictures] == [40, 41][:count]
    again = make(studio, mode=mode, count=1, seed=first.pictures[-1].seed, **fields).pictures[0]
    assert np.abs(pixels(first.pictures[-1]) - pixels(again)).max() <= 1, "the seed under it makes it again"
    if count == 2:
        assert not np.array_equal(pixels(first.pictures[0]), pixels(first.pictures[1])), "each seed its own picture"
    for picture in first.pictures:
        assert params(picture)["mode"] == mode.value and params(picture)["family"] == studio.models.family
        assert_promised_size(studio, picture, mode)
    stopped: list[int] = []
    make(studio, Hooks(progress=lambda s, t: stopped.append(s), interrupted=lambda: bool(stopped)), mode=mode,
         count=count, seed=40, **fields)  # fmt: skip
    assert stopped == [1], "the first step's callback asked to stop: no step after it ran"


@pytest.mark.parametrize(("kit", "mode"), ASPECT_GRID)
def test_every_aspect_gives_its_own_shape_in_each_mode_that_takes_one(studios, sample_bytes, kit, mode):
    studio = studios(kit)
    for aspect in ASPECTS:
        fields = case(sample_bytes, mode) | {"aspect": aspect}
        picture = make(studio, mode=mode, count=1, seed=1, steps=1, **fields).pictures[0]
        assert pixels(picture).std() > 1, (aspect, "a picture, not a blank one (NaN latents decode to black)")
        w, h = (int(part) for part in aspect.split(":"))
        assert abs(picture.width / picture.height - w / h) < 0.12, (aspect, picture.width, picture.height)
        assert_native(studio, (picture.width, picture.height), aspect)


def test_two_users_batched_in_one_call_get_what_each_gets_alone(studio):
    """In every mode the family batches (text to image, and another style for a picture drawn from text); Kandinsky 5
    runs each job alone (engine/families/kandinsky5.py says why)."""
    batches = set() if studio.models.family == "kandinsky5" else {Mode.GENERATE, Mode.RESTYLE}
    assert studio.models.spec.batchable & studio.available_modes() == batches
    for mode in (Mode.GENERATE, Mode.RESTYLE):
        requests = [ImageRequest(mode=mode, prompt="a red fox in the snow", style="watercolor", count=2, seed=5),
                    ImageRequest(mode=mode, prompt="a house", style="anime", count=1, seed=9)]  # fmt: skip
        plans = [studio.plan(request) for request in requests]
        if mode not in batches:
            assert studio.batch_key(plans[0]) is None, mode
            continue
        assert studio.batch_key(plans[0]) == studio.batch_key(plans[1]) is not None, mode
        together = studio.run(plans, Hooks())
        for request, batched in zip(requests, together, strict=True):
            alone = studio.run([studio.plan(request)], Hooks())[0]
            assert len(batched.pictures) == request.count
            for a, b in zip(batched.pictures, alone.pictures, strict=True):
                assert np.abs(pixels(a) - pixels(b)).max() <= 1, mode


def storages(*modules) -> dict[int, int]:
    found: dict[int, int] = {}
    for module in modules:
        for tensor in (*module.parameters(), *module.buffers()):
            found[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
    return found


def modules_of(pipe) -> list[torch.nn.Module]:
    return [part for part in pipe.components.values() if isinstance(part, torch.nn.Module)]


def test_every_mode_runs_on_one_set_of_weights(studio):
    models = studio.models
    alone = storages(*modules_of(models.text2img))
    every = storages(*(m for pipe in models.all_pipelines() for m in modules_of(pipe)))
    # The extra models: Kandinsky 5's I2I and Qwen-Image-Edit's transformers, the structure model (SD's T2I-Adapter,
    # Qwen-Image's ControlNet).
    extra = storages(*(pipe.transformer for pipe in models.pipes.values()))
    for pipe in models.all_pipelines():
        for part in ("adapter", "controlnet"):
            if getattr(pipe, part, None) is not None:
                extra |= storages(getattr(pipe, part))
    shared = {ptr: size for ptr, size in every.items() if ptr not in extra}
    ratio = sum(shared.values()) / sum(alone.values())
    assert ratio <= 1.05, ratio
    for pipe in models.all_pipelines():
        for name, module in models.shared_modules().items():
            if name != "transformer" or pipe not in models.pipes.values():
                assert getattr(pipe, name) is module, (type(pipe).__name__, name)


def test_siblings_keep_the_loaded_dtype(engine_cache):
    """Concrete from_pipe upcasts shared modules to fp32 unless told the dtype (diffusers issue 12754)."""
    studio = Studio(settings_for("tiny-flux2", engine_cache).model_copy(update={"dtype": "bf16"}))
    for pipe in studio.models.all_pipelines():
        assert pipe.transformer.dtype == torch.bfloat16 and pipe.vae.dtype == torch.bfloat16


@pytest.mark.parametrize("kit", MULTILINGUAL)
def test_a_russian_prompt_reaches_the_multilingual_encoder_as_typed(studios, kit, monkeypatch):
    studio = studios(kit)
    asked: list[str] = []
    monkeypatch.setattr(prompts, "translate", lambda models, settings, prompt, seed=0: asked.append(prompt) or "x")
    result = make(studio, prompt="рыжая лиса на снегу", count=1, seed=3)
    assert asked == []
    assert result.final_prompt == "рыжая лиса на снегу"
    assert params(result.pictures[0])["prompt"] == "рыжая лиса на снегу"


def test_an_english_only_family_still_translates(studios, monkeypatch):
    asked: list[str] = []
    monkeypatch.setattr(prompts, "translate", lambda models, settings, prompt, seed=0: asked.append(prompt) or "a fox")
    sd = studios("tiny")
    assert make(sd, prompt="лиса", count=1, seed=3).final_prompt == "a fox" and asked == ["лиса"]


def test_the_klein_mix_balance_changes_the_picture(studios, sample_bytes):
    studio = studios("tiny-flux2")
    photos = (sample_bytes("chelsea.png"), sample_bytes("coffee.png"))

    def mix(weights):
        return pixels(make(studio, mode=Mode.MIX, images=photos, weights=weights, count=1, seed=4).pictures[0])

    assert not np.array_equal(mix((0.3, 0.7)), mix((0.7, 0.3)))
    assert np.array_equal(mix((0.3, 0.7)), mix((0.3, 0.7)))


def test_vary_strong_departs_further_than_subtle_on_klein(studios, sample_bytes):
    """On the shortest schedule (4 steps, engine/modes/vary.py) subtle runs the last 2, strong the last 3: not all 4,
    which would start from pure noise and keep nothing of the picture."""
    studio = studios("tiny-flux2")
    cat = sample_bytes("chelsea.png")
    subtle = make(studio, mode=Mode.VARY, images=(cat,), prompt="a cat", count=1, seed=3).pictures[0]
    events: list[tuple[int, int]] = []
    strong = make(studio, Hooks(progress=lambda s, t: events.append((s, t))), mode=Mode.VARY, images=(cat,),
                  prompt="a cat", variation="strong", count=1, seed=3)  # fmt: skip
    assert events == [(1, 3), (2, 3), (3, 3)]
    source = np.asarray(Image.open(io.BytesIO(cat)).convert("RGB").resize((subtle.width, subtle.height))).astype(int)
    assert np.abs(pixels(subtle) - source).mean() < np.abs(pixels(strong.pictures[0]) - source).mean()


@pytest.mark.parametrize(("model", "cache", "runs"), [("tiny-flux2", "taylorseer", True), ("tiny-flux2", "fbc", False),
                                                     ("tiny-qwen-image", "fbc", True)])  # fmt: skip
def test_the_step_cache_is_opt_in_and_only_where_it_runs(engine_cache, caplog, model, cache, runs):
    caplog.set_level(logging.INFO, logger="engine.perf")
    studio = Studio(settings_for(model, engine_cache).model_copy(update={"step_cache": cache, "fp8": True}))
    applied = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("fast paths"))
    assert (f"step_cache:{cache}" in applied) == runs
    assert "fp8" not in applied  # FP8 needs a CUDA GPU of compute capability 8.9+: skipped, said so
    assert any("ENGINE_FP8 skipped" in r.getMessage() for r in caplog.records)
    assert len(make(studio, prompt="a fox", count=1, seed=2, steps=4).pictures) == 1


def test_klein_4k_redraws_the_gan_picture_tile_by_tile_and_a_cancel_stops_it(studios, sample_bytes):
    from engine.families.common import upscale_with

    studio = studios("tiny-flux2")
    plan = studio.plan(ImageRequest(mode=Mode.UPSCALE, images=(sample_bytes("chelsea.png"),), prompt="a cat", seed=1))
    ticks: list[tuple[int, int]] = []
    refined = studio.run([plan], Hooks(progress=lambda s, t: ticks.append((s, t))))[0].pictures[0]
    gan_only = upscale_with(studio, plan, Hooks(), None)[0]
    assert (refined.width, refined.height) == gan_only.size
    assert np.abs(pixels(refined) - np.asarray(gan_only).astype(int)).mean() > 1  # the tiles were redrawn
    assert ticks[-1][0] == ticks[-1][1] > 4  # one tick per tile (and GAN tile)
    assert studio.run([plan], Hooks(interrupted=lambda: True))[0].pictures == ()


def test_qwen_edit_reimagines_mixes_by_the_balance_in_its_instruction_and_edits(studios, sample_bytes):
    from engine.families.qwen_image import mix_instruction

    studio = studios("tiny-qwen-image")
    cat, coffee = sample_bytes("chelsea.png"), sample_bytes("coffee.png")
    first = make(studio, mode=Mode.REIMAGINE, images=(cat,), count=1, seed=8).pictures[0]
    again = make(studio, mode=Mode.REIMAGINE, images=(cat,), count=1, seed=8).pictures[0]
    assert np.array_equal(pixels(first), pixels(again)) and abs(first.width / first.height - 451 / 300) < 0.15
    assert params(first)["mode"] == "reimagine" and params(first)["family"] == "qwen_image"
    assert (
        mix_instruction([0.3, 0.7], "")
        == "Blend these pictures into one new picture: 30% of picture 1, 70% of picture 2."
    )

    def mix(weights):
        return pixels(
            make(studio, mode=Mode.MIX, images=(coffee, cat), weights=weights, aspect="", count=1, seed=4).pictures[0]
        )

    assert not np.array_equal(mix((0.3, 0.7)), mix((0.7, 0.3)))
    edited = make(studio, mode=Mode.EDIT, images=(cat,), instruction="сделай кота чёрным", count=1, seed=8).pictures[0]
    assert params(edited)["mode"] == "edit" and params(edited)["instruction"] == "сделай кота чёрным"
    assert (edited.width, edited.height) == (first.width, first.height)
    assert not np.array_equal(pixels(edited), pixels(first)), "the instruction, not the reimagine text, drives it"


# ---- ✏️ Edit and 🖌 Region on FLUX.2 klein, the default model ----------------------------------------------------
@pytest.fixture(scope="module")
def klein(studios) -> Studio:
    return studios("tiny-flux2")


@pytest.fixture(scope="module")
def klein_fox(klein) -> bytes:
    """A picture the klein bot sent earlier: "a red fox", 16:9, seed 5."""
    return make(klein, prompt="a red fox", style="none", aspect="16:9", count=1, seed=5).pictures[0].png


def test_a_klein_edit_keeps_the_size_follows_the_wish_and_each_seed_makes_its_picture(klein, klein_fox, monkeypatch):
    monkeypatch.setattr(prompts, "translate", lambda *args, **kwargs: pytest.fail("klein reads Russian as typed"))
    size = Image.open(io.BytesIO(klein_fox)).size
    night = make(klein, mode=Mode.EDIT, images=(klein_fox,), instruction="сделай ночь", count=2, seed=9).pictures
    assert [(p.width, p.height) for p in night] == [size, size]
    alone = make(klein, mode=Mode.EDIT, images=(klein_fox,), instruction="сделай ночь", count=1, seed=10).pictures[0]
    assert np.abs(pixels(night[1]) - pixels(alone)).max() <= 1, "the seed under picture 2 makes it again"
    snow = make(klein, mode=Mode.EDIT, images=(klein_fox,), instruction="add snow", count=1, seed=9).pictures[0]
    assert not np.array_equal(pixels(night[0]), pixels(snow)), "the instruction drives the edit"
    recorded = params(night[0])
    assert recorded["mode"] == "edit" and recorded["instruction"] == "сделай ночь"
    assert recorded["prompt"].startswith("сделай ночь, a red fox"), "the file keeps the chain, as SD's edit"
    odd = io.BytesIO()
    Image.open(io.BytesIO(klein_fox)).resize((203, 150)).save(odd, format="PNG")  # a photo off the 16 px grid
    edited = make(klein, mode=Mode.EDIT, images=(odd.getvalue(),), instruction="night", count=1, seed=1).pictures[0]
    assert (edited.width, edited.height) == (192, 144)


def test_klein_repaints_only_the_painted_region(klein, klein_fox):
    from engine.modes import inpaint

    width, height = Image.open(io.BytesIO(klein_fox)).size
    box = (width // 3, height // 3, 2 * width // 3, 2 * height // 3)
    mask = mask_png((width, height), box)
    result = make(klein, mode=Mode.INPAINT, images=(klein_fox,), instruction="a red hat", mask=mask, count=2, seed=3)
    source = np.asarray(Image.open(io.BytesIO(klein_fox)).convert("RGB")).astype(int)
    margin = 3 * max(inpaint.MIN_FEATHER_PX, round(min(width, height) * inpaint.FEATHER))
    outside = np.ones((height, width), bool)
    outside[box[1] - margin : box[3] + margin, box[0] - margin : box[2] + margin] = False
    inside = (slice(box[1] + 2, box[3] - 2), slice(box[0] + 2, box[2] - 2))
    assert len(result.pictures) == 2
    for picture in result.pictures:
        out = pixels(picture)[..., :3]
        assert out.shape == source.shape
        assert (out[outside] == source[outside]).all(), "outside the region the file is the source, exactly"
        assert np.abs(out[inside] - source[inside]).mean() > 5, "the region is painted anew"
    assert params(result.pictures[0])["instruction"] == "a red hat"
    assert params(result.pictures[0])["family"] == "flux2_klein"


def test_klein_refuses_an_empty_mask_and_paints_a_full_one_anew(klein, klein_fox):
    from engine.api import BadRequest, ErrorCode

    size = Image.open(io.BytesIO(klein_fox)).size
    with pytest.raises(BadRequest) as empty:
        klein.plan(ImageRequest(mode=Mode.INPAINT, images=(klein_fox,), mask=mask_png(size, None)))
    assert empty.value.code == ErrorCode.EMPTY_MASK
    everything = mask_png(size, (0, 0, size[0] - 1, size[1] - 2))
    repainted = make(klein, mode=Mode.INPAINT, images=(klein_fox,), mask=everything, count=1, seed=5).pictures[0]
    drawn = make(klein, prompt="a red fox", style="none", aspect="16:9", count=1, seed=5).pictures[0]
    assert np.array_equal(pixels(repainted), pixels(drawn)), "the same prompt and seed drawn anew"


def test_a_style_naming_an_sd_sampler_draws_on_klein_with_its_own_flow_matching_one(klein, monkeypatch):
    """One styles file serves every family: klein ignores `scheduler: ddim` (DDIM would mis-solve a flow)."""
    plain = make(klein, prompt="a red fox", style="none", count=1, seed=3).pictures[0]
    monkeypatch.setitem(klein.styles, "ddim", dataclasses.replace(klein.styles["none"], id="ddim", scheduler="ddim"))
    sampled = make(klein, prompt="a red fox", style="ddim", count=1, seed=3).pictures[0]
    assert type(klein.models.text2img.scheduler).__name__ == "FlowMatchEulerDiscreteScheduler"
    assert np.array_equal(pixels(sampled), pixels(plain))
