"""The studio owns the models and turns a request into pictures, on two threads.

`plan` runs on the event loop at submit: cheap, no model calls; it validates the request and decodes its source
pictures, once each (so a bad photo is refused at once). `render` (inside `run`) does the GPU work on the engine's
worker thread, for one job or for several compatible jobs batched into one pipeline call; `encode` writes the
files on any thread.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from PIL import Image

from . import prompts
from .api import (
    ASPECTS,
    MAX_COUNT,
    MAX_PROMPT_CHARS,
    MODES,
    BadRequest,
    ImageRequest,
    JobResult,
    Mode,
    ModeUnavailable,
    Origin,
    Picture,
)
from .images import Parameters, decode_source, encode_document, encode_preview
from .models import Models, adapters, load_models, with_tiny_kit
from .settings import EngineSettings
from .sizes import fit_size, size_for
from .styles import Style, StyleError, Tag, load_styles

log = logging.getLogger(__name__)


class OutOfMemory(Exception):
    """The device ran out of memory; the worker frees the cache and retries smaller."""


@dataclass
class Hooks:
    """How a running job reports progress and learns it should stop (checked between denoising steps)."""

    progress: Callable[[int, int], None] = lambda step, total: None
    interrupted: Callable[[], bool] = lambda: False
    low_memory: bool = False  # set on the retry after an out-of-memory error
    # The live preview (engine/preview.py): shown the call's latents after a step, where a pipeline hands them over.
    latents: Callable[[int, int, Any], None] | None = None

    def step_callback(self, total: int) -> Callable:
        def on_step_end(pipe: Any, step: int, timestep: Any, tensors: dict) -> dict:
            self.progress(step + 1, total)
            if self.latents is not None and "latents" in tensors:
                self.latents(step + 1, total, tensors["latents"])
            if self.interrupted():
                pipe._interrupt = True  # diffusers' own stop flag; the VAE decode still runs
            return tensors

        return on_step_end


@dataclass
class Plan:
    """A validated request with everything resolved: style, size, steps, seeds, decoded source pictures."""

    request: ImageRequest
    style: Style
    width: int
    height: int
    steps: int
    guidance: float
    seeds: list[int]
    sources: list[Image.Image] = field(default_factory=list)
    prompt: str = ""  # after translation and beautification, before the style
    styled_prompt: str = ""
    negative_prompt: str = ""
    tags: tuple[Tag, ...] = ()
    guidance_rescale: float = 0.0
    # The fast profile with a few-step LoRA loaded (ENGINE_FAST_LORA): its adapter on, and the scheduler it wants.
    fast_lora: bool = False

    @property
    def mode(self) -> Mode:
        return self.request.mode


class Studio:
    def __init__(self, settings: EngineSettings, models: Models | None = None) -> None:
        self.settings = settings = with_tiny_kit(settings)
        self._styles = load_styles(settings.styles_file, settings.lora_dir)
        self._styles_stamp = _stamp(settings.styles_file)
        if settings.default_style not in self._styles:
            raise BadRequest(f"ENGINE_DEFAULT_STYLE={settings.default_style!r} is not a known style")
        self.models = models or load_models(settings, self._styles)
        self._leave_out_unloaded()

    # ---- styles: the administrator's file is read again when it changes (a style trained while serving) ------
    @property
    def styles(self) -> dict[str, Style]:
        self.reload_styles()
        return self._styles

    def reload_styles(self) -> bool:
        """Read the administrator's styles file again if it changed since the last read (one stat otherwise).
        Its new LoRAs and embeddings are loaded on the worker thread before the next run (`render`). A file that
        no longer parses is logged and the styles in use are kept. True when the styles changed."""
        stamp = _stamp(self.settings.styles_file)
        if stamp == self._styles_stamp:
            return False
        self._styles_stamp = stamp
        try:
            styles = load_styles(self.settings.styles_file, self.settings.lora_dir)
        except (StyleError, OSError, ValueError) as error:
            log.warning("styles file not reloaded, keeping the styles in use: %s", error)
            return False
        self._styles = styles
        log.info("styles reloaded from %s: %d styles", self.settings.styles_file, len(styles))
        return True

    def _load_new_adapters(self) -> None:
        """The adapters and embeddings of styles added since start (worker thread only: it changes the UNet)."""
        from .models import load_style_adapters

        load_style_adapters(self.models, self._styles)
        self._leave_out_unloaded()

    def _leave_out_unloaded(self) -> None:
        """The styles whose LoRA did not load (engine/models.py logged why) are not offered."""
        loaded = self.models.loras
        self._styles = {
            key: style
            for key, style in self._styles.items()
            if all(lora.adapter_name in loaded for lora in style.loras)
        }

    # ---- what the engine can do -------------------------------------------------------------------
    def available_modes(self) -> frozenset[Mode]:
        """The modes the loaded family can do with the models configured (the bot hides the others' buttons)."""
        spec = self.models.spec
        return frozenset(mode for mode in spec.runners if spec.available(mode, self.models))

    def can_describe(self) -> bool:
        """Whether a captioning model is loaded (/describe, engine/describe.py)."""
        return getattr(self.models, "captioner", None) is not None

    def describe(self, picture: Image.Image) -> list[str]:
        """Up to three prompts that describe `picture`, best first; on the worker thread (the captioner shares the
        device with the pipelines). Raises ModeUnavailable without a captioner."""
        from .describe import describe

        captioner = getattr(self.models, "captioner", None)
        if captioner is None:
            raise ModeUnavailable("no captioning model is configured (ENGINE_CAPTION_MODEL)")
        try:
            return describe(captioner, picture)
        except torch.OutOfMemoryError as error:
            raise OutOfMemory(str(error)) from error

    # ---- submit time: the event loop ----------------------------------------------------------------
    def plan(self, request: ImageRequest) -> Plan:
        """Runs on the event loop at submit: cheap, validation and planning, no model calls. Raises BadRequest,
        BadImage or ModeUnavailable; the plan carries the decoded pictures, so the worker never decodes again."""
        from .modes import check_sources, complete_request

        if request.mode not in self.available_modes():  # before decoding: no work for a mode we cannot serve
            raise ModeUnavailable(f"{request.mode} is not configured on this server")
        decoded = [decode_source(data) for data in request.images]
        # A picture of ours fills in its prompt, style and seed from the parameters read with its pixels.
        request = complete_request(request, decoded[0].parameters if decoded else None, self.styles)
        # Restyling a picture we can draw again from its prompt and seed drops it: its pixels are not used.
        sources = [source.picture for source in decoded] if request.images else []
        style_id = request.style or self.settings.default_style
        style = self.styles.get(style_id)
        if style is None:
            raise BadRequest(f"unknown style {style_id!r}")
        if len(request.prompt) > MAX_PROMPT_CHARS:
            raise BadRequest(f"prompt over {MAX_PROMPT_CHARS} characters")
        if not 1 <= request.count <= MAX_COUNT:
            raise BadRequest(f"count must be 1..{MAX_COUNT}")
        check_sources(request, sources)
        fast_lora = self._fast(request) and bool(self.models.fast_adapter)
        steps, guidance = self._profile(request)
        if not fast_lora:  # a few-step LoRA is distilled for its profile's steps and guidance: a style's would undo it
            steps, guidance = style.steps or steps, _given(style.guidance, guidance)
        steps = request.steps or steps
        if not 1 <= steps <= 150:
            raise BadRequest("steps must be 1..150")
        steps = max(steps, self._fewest_steps())
        width, height = self._size(request, sources)
        base_seed = request.seed if request.seed is not None else random.randrange(2**31)
        count = 1 if MODES[request.mode].single else request.count
        seeds = [base_seed + i for i in range(count)]
        plan = Plan(request, style, width, height, steps, guidance, seeds, sources, tags=self._tags(request, style))
        plan.guidance_rescale = style.guidance_rescale or 0.0
        plan.fast_lora = fast_lora
        return plan

    def _tags(self, request: ImageRequest, style: Style) -> tuple[Tag, ...]:
        offered = {tag.id: tag for tag in style.tags}
        unknown = [tag for tag in request.tags if tag not in offered]
        if unknown:
            raise BadRequest(f"unknown tag {unknown[0]!r} for style {style.id!r}")
        return tuple(offered[tag] for tag in dict.fromkeys(request.tags))

    def _fast(self, request: ImageRequest) -> bool:
        return (request.profile or self.settings.default_profile) == "fast"

    def _profile(self, request: ImageRequest) -> tuple[int, float]:
        """Steps and guidance of the request's profile: the settings', else the family's own defaults."""
        s, defaults = self.settings, self.models.spec.defaults
        if self._fast(request):
            return s.fast_steps or defaults.fast_steps, _given(s.fast_guidance, defaults.fast_guidance)
        return s.quality_steps or defaults.quality_steps, _given(s.quality_guidance, defaults.quality_guidance)

    def _fewest_steps(self) -> int:
        """A schedule stretched to end at a terminal sigma (Qwen-Image: shift_terminal 0.02) divides 0 by 0 for a
        single step in diffusers 0.42.1: NaN latents, a black picture. Such a model draws at least two."""
        return 2 if self.models.scheduler_config.get("shift_terminal") else 1

    def _size(self, request: ImageRequest, sources: list[Image.Image]) -> tuple[int, int]:
        native, multiple = self.models.native, self.models.multiple
        if request.aspect:
            if request.aspect not in ASPECTS:
                raise BadRequest(f"aspect must be one of {', '.join(ASPECTS)}")
            if not sources or MODES[request.mode].aspect:
                return size_for(request.aspect, native, multiple)
        if sources:
            return fit_size(*sources[0].size, native, multiple)
        return size_for("1:1", native, multiple)

    def batch_key(self, plan: Plan) -> tuple | None:
        """Jobs with equal keys can share one pipeline call (a list of prompts and one CPU generator per
        picture: each picture equals its unbatched self); None = always alone.

        Equal key = everything that is one value per call: mode, size, steps, guidance, the LoRA adapters
        and their strengths, the profile (its scheduler/adapter). A mode's runner must take several plans
        for its mode to be listed here; modes with source pictures run alone.
        """
        if plan.mode not in self.models.spec.batchable or plan.sources:
            return None
        loras = tuple((lora.adapter_name, lora.strength) for lora in plan.style.loras)
        profile = plan.request.profile or self.settings.default_profile
        sampler = (plan.style.scheduler, plan.guidance_rescale)
        return (plan.mode, plan.width, plan.height, plan.steps, plan.guidance, loras, profile, sampler)

    # ---- the worker thread --------------------------------------------------------------------------
    def run(self, plans: list[Plan], hooks: Hooks) -> list[JobResult]:
        """Render and encode in the calling thread: the warm-up (on the worker thread), the CLI, tests. A job's
        worker thread calls `render` alone and hands the encoding to other threads (Engine._encode), so the GPU
        starts the next call at once."""
        rendered, seconds = self.render(plans, hooks)
        results = []
        for plan, images in zip(plans, rendered, strict=True):
            # strict=False: an interrupted call returns fewer pictures (or none) than seeds
            pictures = [self.encode(plan, image, seed) for image, seed in zip(images, plan.seeds, strict=False)]
            results.append(self.result(plan, pictures, seconds))
        return results

    def render(self, plans: list[Plan], hooks: Hooks) -> tuple[list[list[Image.Image]], float]:
        """The GPU work, on the worker thread (the prompts' language models too): each plan's pictures (fewer, or
        none, when interrupted) and the seconds it took."""
        spec = self.models.spec
        started = time.perf_counter()
        self._load_new_adapters()
        for plan in plans:
            request = plan.request
            if spec.multilingual:  # a Qwen encoder reads Russian as typed: translating would only lose meaning
                request = replace(request, translate=False)
            plan.prompt = prompts.rewrite(self.models, self.settings, request, plan.seeds[0])
            plan.styled_prompt, plan.negative_prompt = plan.style.apply(
                plan.prompt, plan.request.negative_prompt, plan.tags
            )
        try:
            with torch.inference_mode():
                pictures = spec.runners[plans[0].mode](self, plans, hooks)
        except torch.OutOfMemoryError as error:
            raise OutOfMemory(str(error)) from error
        return pictures, time.perf_counter() - started

    def encode(self, plan: Plan, image: Image.Image, seed: int) -> Picture:
        """One picture as a PNG with its parameters, plus a JPEG preview; any thread (Pillow frees the GIL)."""
        params = Parameters(
            prompt=plan.styled_prompt,
            negative_prompt=plan.negative_prompt,
            style=plan.style.id,
            seed=seed,
            model=self.models.name,
            family=self.models.family,
            steps=plan.steps,
            guidance=plan.guidance,
            width=image.width,
            height=image.height,
            mode=plan.mode.value,
            user_prompt=plan.request.prompt,
            instruction=plan.request.instruction,
            tags=tuple(tag.id for tag in plan.tags),
            **_source(plan.request.origin),
        )
        png, file_format = encode_document(image, params)
        return Picture(png, encode_preview(image), seed, image.width, image.height, file_format)

    def result(self, plan: Plan, pictures: list[Picture], seconds: float) -> JobResult:
        return JobResult(
            pictures=tuple(pictures),
            prompt=plan.request.prompt,
            final_prompt=plan.styled_prompt,
            negative_prompt=plan.negative_prompt,
            style=plan.style.id,
            model=self.models.name,
            steps=plan.steps,
            seconds=seconds,
        )

    # ---- helpers shared by the modes ----------------------------------------------------------------
    def generators(self, plans: list[Plan]) -> list[torch.Generator]:
        # CPU generators: the same seed gives the same picture on any GPU (CUDA streams differ per device).
        return [torch.Generator("cpu").manual_seed(seed) for plan in plans for seed in plan.seeds]

    def prepare(self, pipe: Any, plan: Plan) -> None:
        """`pipe` set for drawing `plan` (every mode calls it first): a scheduler of its own for this call (siblings
        share one object with per-call step state), and the plan's style LoRAs (plus the few-step one) switched on."""
        pipe.scheduler = self.new_scheduler(pipe, plan.style, plan.fast_lora)
        self.use_style_adapters(pipe, plan.style, plan.fast_lora)

    def new_scheduler(self, pipe: Any, style: Style | None = None, fast_lora: bool = False) -> Any:
        """The few-step LoRA's sampler for a `fast_lora` plan (LCM on the SD families), else the style's if it names
        one and the model can use it, else the model's own. A flow-matching model (FLUX.2, Kandinsky 5, Qwen-Image
        and its Lightning LoRA) keeps its own: the named samplers solve the noise schedules of the SD families."""
        from .samplers import flow_matching, make

        own = self.models.scheduler_class or type(pipe.scheduler)
        name = "lcm" if fast_lora else (style.scheduler if style is not None else None)
        if name and not flow_matching(own):
            return make(name, self.models.scheduler_config)
        return own.from_config(self.models.scheduler_config)

    def use_style_adapters(self, pipe: Any, style: Style, fast_lora: bool = False) -> None:
        """Switch resident LoRA adapters for this style, plus the few-step one for a `fast_lora` plan, at full
        strength (only ever on the worker thread)."""
        if not self.models.loras and not self.models.fast_adapter:
            return
        names = [lora.adapter_name for lora in style.loras]
        weights = [lora.strength for lora in style.loras]
        # A pipeline with a transformer of its own (Qwen-Image-Edit, Kandinsky 5 I2I) has no few-step LoRA: the
        # fast profile's steps without it.
        if fast_lora and self.models.fast_adapter in adapters(pipe):
            names.append(self.models.fast_adapter)
            weights.append(1.0)
        if names:
            pipe.enable_lora()
            pipe.set_adapters(names, weights)
        else:
            pipe.disable_lora()


def _given(value: float | None, default: float) -> float:
    """A setting that may be 0 (guidance off): only None means "not set"."""
    return default if value is None else value


def _source(origin: Origin | None) -> dict:
    """The Parameters fields that name the picture a derived request started from."""
    if origin is None:
        return {}
    return {"source_job": origin.job, "source_picture": origin.picture, "source_seed": origin.seed}


def _stamp(path: Any) -> tuple[int, int] | None:
    """What says a file changed: its modification time and size (None: no file)."""
    try:
        info = os.stat(path) if path is not None else None
    except OSError:
        return None
    return (info.st_mtime_ns, info.st_size) if info is not None else None
