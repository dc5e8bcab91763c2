"""Loading the weights once and deriving every mode's pipeline from them (one set of weights in memory).

Traps avoided here: concrete `Cls.from_pipe` upcasts shared modules to fp32 (diffusers
issue 12754) so only AutoPipeline*.from_pipe is used; the IP-Adapter is not left in the shared UNet
(engine/ip_adapter.py attaches it per call); LoRAs stay
resident as named adapters and are switched with set_adapters (load/unload leaks, issues 8532, 9913).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoPipelineForImage2Image, AutoPipelineForInpainting, AutoPipelineForText2Image

from .settings import EngineSettings
from .styles import Style

log = logging.getLogger(__name__)


def quiet_libraries() -> None:
    """Loading bars and dtype chatter from diffusers/transformers are noise in a service's log."""
    import diffusers
    import transformers

    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


@dataclass
class Models:
    """Every pipeline the engine runs, all sharing one UNet, VAE and text encoder(s)."""

    name: str
    family: str  # a key of engine.families.registry(): "sd15", "sdxl", "flux2_klein", "kandinsky5", "qwen_image"
    device: torch.device
    dtype: torch.dtype
    native: int  # square training size in pixels
    multiple: int  # sizes must be multiples of this (VAE factor x UNet down-samplings)
    text2img: Any
    img2img: Any  # None where the family has no img2img pipeline
    inpaint: Any  # None where the family has no inpainting pipeline
    scheduler_config: dict
    ip_adapter: Any = None  # engine.ip_adapter.IPAdapter, attached to the shared UNet only for image prompts
    structure: Any = None  # pipeline with a T2I-Adapter/ControlNet, or None
    structure_kind: str = ""
    upscaler: Any = None  # engine.esrgan.Upscaler or None (Lanczos)
    llm: Any = None  # (model, tokenizer) or None
    translator: Any = None  # (model, tokenizer) or None
    captioner: Any = None  # engine.describe.Captioner or None (/describe)
    loras: dict[str, Path] = field(default_factory=dict)  # adapter name -> file
    fast_adapter: str = ""  # name of the few-step LoRA adapter, if loaded
    spec: Any = None  # engine.families.Family: its runners, defaults and gaps
    pipes: dict[str, Any] = field(default_factory=dict)  # the family's other pipelines by name (edit, i2i, ...)
    call_defaults: dict[str, Any] = field(default_factory=dict)  # extra arguments of every call (tiny kits)
    scheduler_class: Any = None  # the model's own scheduler class (a style's sampler replaces it for one call)

    def shared_modules(self) -> dict[str, torch.nn.Module]:
        """The weights every pipeline of this family shares (the denoiser, the VAE, the text encoders)."""
        names = ("unet", "transformer", "vae", "text_encoder", "text_encoder_2")
        return {name: part for name in names if (part := getattr(self.text2img, name, None)) is not None}

    def all_pipelines(self) -> list[Any]:
        found = [self.text2img, self.img2img, self.inpaint, self.structure, *self.pipes.values()]
        return [pipe for pipe in found if pipe is not None]


def pick_device(setting: str) -> torch.device:
    if setting.startswith("cuda:"):  # one worker per GPU (engine.worker)
        return torch.device(setting)
    if setting == "cuda" or (setting == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


def pick_dtype(setting: str, device: torch.device) -> torch.dtype:
    if setting != "auto":
        return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[setting]
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def resolve_model(settings: EngineSettings) -> str:
    """ENGINE_MODEL as a loadable id: "tiny" builds (once) and points at the offline tiny kit; "tiny-flux2",
    "tiny-kandinsky5", "tiny-qwen-image" at the families' kits (engine/tiny_families.py)."""
    from .tiny_families import BUILDERS

    if settings.model == SHAPES_KIT:
        from .training.shapes import KIT

        return str(KIT)
    if settings.model in BUILDERS:
        from .tiny_families import ensure as ensure_family

        return str(ensure_family(settings.model, settings.cache_dir))
    if settings.model in ("tiny", "tiny-sd15", "tiny-sdxl"):
        from .tiny import ensure

        kit = ensure(settings.cache_dir / "tiny-kit")
        return str(kit / ("sdxl" if settings.model == "tiny-sdxl" else "sd15"))
    return settings.model


SHAPES_KIT = "tiny-shapes"  # the trained test kit shipped in engine/kits/tiny-shapes (engine/training/shapes.py)


def with_tiny_kit(settings: EngineSettings) -> EngineSettings:
    """With ENGINE_MODEL=tiny every optional model comes from the kit too, unless configured otherwise.

    Set an option to "none" to leave that model out (e.g. ENGINE_UPSCALER=none tests a missing upscaler).
    """
    if settings.model == SHAPES_KIT:
        return _with_shapes_kit(settings)
    if not settings.model.startswith("tiny"):
        return settings
    from .tiny import ensure

    kit = ensure(settings.cache_dir / "tiny-kit")
    xl = settings.model == "tiny-sdxl"
    if settings.model not in ("tiny", "tiny-sd15", "tiny-sdxl"):
        # The families' kits: the SD kit's 4K upscaler and prompt LLM, their own optional models (Qwen-Image's
        # ControlNet); no SD adapters or LoRAs (they fit no other family); tiny sizes.
        return _with_family_kit(settings, kit)
    kit_paths = {
        "ip_adapter": str(kit / "ip_adapter"),
        "structure_adapter": str(kit / ("t2i_adapter_sdxl" if xl else "t2i_adapter_sd15")),
        "upscaler": str(kit / "upscaler" / "esrgan_x4.pth"),
        "llm": str(kit / "llm"),
    }
    update: dict[str, object] = {key: value for key, value in kit_paths.items() if not getattr(settings, key)}
    if settings.lora_dir == Path("loras"):
        update["lora_dir"] = kit / "loras"
    settings = settings.model_copy(update=update)
    none = {key: "" for key in kit_paths if getattr(settings, key) == "none"}
    return settings.model_copy(update=none)


def _with_shapes_kit(settings: EngineSettings) -> EngineSettings:
    """tiny-shapes has learned to draw: the tiny kit's random adapters and GAN would only add noise to it. Its own
    trained captioner (/describe) and translator (Russian prompts) come with it, unless configured otherwise."""
    from .training.shapes import CAPTIONER, TRANSLATOR

    kit_paths = {"caption_model": str(CAPTIONER), "translator": str(TRANSLATOR)}
    update = {key: value for key, value in kit_paths.items() if not getattr(settings, key)}
    settings = settings.model_copy(update=update)
    return settings.model_copy(update={key: "" for key in kit_paths if getattr(settings, key) == "none"})


def _with_family_kit(settings: EngineSettings, kit: Path) -> EngineSettings:
    from .tiny_families import NATIVE, TEXT_TOKENS, kit_settings

    update: dict[str, object] = {
        "native_size": settings.native_size or NATIVE,
        "text_tokens": settings.text_tokens or TEXT_TOKENS.get(settings.model, 0),
    }
    paths = {"upscaler": kit / "upscaler" / "esrgan_x4.pth", "llm": kit / "llm"}
    for key, path in (paths | kit_settings(settings.model, settings.cache_dir)).items():
        if not getattr(settings, key):
            update[key] = str(path)
        elif getattr(settings, key) == "none":
            update[key] = ""
    if settings.lora_dir == Path("loras"):
        update["lora_dir"] = kit / "loras"
    return settings.model_copy(update=update)


def _family(pipe: Any) -> str:
    return "sdxl" if getattr(pipe, "text_encoder_2", None) is not None else "sd15"


class ModelNotFound(Exception):
    """ENGINE_MODEL names weights that are not there; the message says which, and how to get them."""


def check_model_source(model: str) -> None:
    """Fail early, in one sentence, where the weights cannot be loaded: a local path that does not exist, or a
    hub id that is not in the cache while the hub is off (HF_HUB_OFFLINE=1). Online, diffusers downloads it."""
    from huggingface_hub import constants, snapshot_download

    path = Path(model).expanduser()
    local = model.startswith(("/", "./", "../", "~")) or model.endswith((".safetensors", ".ckpt")) or path.exists()
    if local and not path.exists():
        raise ModelNotFound(
            f"ENGINE_MODEL={model}: no such file or folder. Put the weights there "
            f"(huggingface-cli download <hub id> --local-dir {model}) or set ENGINE_MODEL to a hub id, "
            "e.g. stabilityai/stable-diffusion-xl-base-1.0"
        )
    if local or not constants.HF_HUB_OFFLINE:
        return
    try:
        snapshot_download(model, local_files_only=True)
    except Exception:
        raise ModelNotFound(
            f"ENGINE_MODEL={model}: not in the Hugging Face cache ({constants.HF_HUB_CACHE}) and HF_HUB_OFFLINE=1. "
            f"Download it once where the hub is reachable: huggingface-cli download {model}"
        ) from None


def _from_pretrained(model: str, dtype: torch.dtype) -> Any:
    check_model_source(model)
    kwargs: dict[str, Any] = {"dtype": dtype}
    index = Path(model) / "model_index.json"
    if index.is_file() and "safety_checker" in json.loads(index.read_text()):
        # Corporate deployment: moderation is the company's policy, not a black-image filter.
        kwargs.update(safety_checker=None, requires_safety_checker=False)
    if model.endswith((".safetensors", ".ckpt")):
        from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

        try:
            return StableDiffusionXLPipeline.from_single_file(model, **kwargs)
        except Exception:
            return StableDiffusionPipeline.from_single_file(model, **kwargs)
    return AutoPipelineForText2Image.from_pretrained(model, **kwargs)


def load_models(settings: EngineSettings, styles: dict[str, Style]) -> Models:
    """Load the configured models through their family's module; `settings` already passed through with_tiny_kit."""
    from .families import detect

    quiet_libraries()
    model = resolve_model(settings)
    device = pick_device(settings.device)
    dtype = pick_dtype(settings.dtype, device)
    family = detect(model, settings.family)
    log.info("loading %s (%s) on %s as %s", settings.model, family.name if family else "sd", device, dtype)
    if family is None or family.name in ("sd15", "sdxl"):
        models = load_sd(settings, styles, model, device, dtype)
    else:
        check_model_source(model)
        models = family.load(settings, styles, model, device, dtype)
        _share_style_loras(models, styles)
    from .families import registry

    models.spec = registry()[models.family]
    if settings.native_size:
        models.native = settings.native_size
    _load_side_models(models, settings)
    _prepare_pipelines(models, settings)
    return models


def load_sd(settings: EngineSettings, styles: dict[str, Style], model: str, device: torch.device, dtype: torch.dtype):
    """SD1.5 and SDXL: text2img, and img2img/inpaint derived with AutoPipeline*.from_pipe (no fp32 upcast)."""
    t2i = _load_text2img(model, settings.vae, dtype)
    loras, fast_adapter = load_lora_adapters(t2i, settings, styles)
    t2i.to(device)
    ip_adapter = _load_ip_adapter(t2i, settings) if settings.ip_adapter else None
    img2img = AutoPipelineForImage2Image.from_pipe(t2i)
    inpaint = AutoPipelineForInpainting.from_pipe(t2i)
    structure = _load_structure(t2i, settings, dtype, device) if settings.structure_adapter else None
    native, multiple = _size_grid(t2i)
    models = Models(
        name=settings.model,
        family=_family(t2i),
        device=device,
        dtype=dtype,
        native=native,
        multiple=multiple,
        text2img=t2i,
        img2img=img2img,
        inpaint=inpaint,
        scheduler_config=dict(t2i.scheduler.config),
        scheduler_class=type(t2i.scheduler),
        ip_adapter=ip_adapter,
        structure=structure,
        structure_kind=settings.structure_adapter_kind if structure is not None else "",
        loras=loras,
        fast_adapter=fast_adapter,
    )
    return models


def _load_text2img(model: str, vae: str, dtype: torch.dtype) -> Any:
    """The text-to-image pipeline whose UNet, VAE and text encoder(s) every other pipeline shares."""
    t2i = _from_pretrained(model, dtype)
    if vae:
        from diffusers import AutoencoderKL

        t2i.vae = AutoencoderKL.from_pretrained(vae, dtype=dtype)
    t2i.set_progress_bar_config(disable=True)
    return t2i


def load_lora_adapters(t2i: Any, settings: EngineSettings, styles: dict[str, Style]) -> tuple[dict[str, Path], str]:
    """The styles' LoRAs and the few-step one, all loaded once and left off until a run switches them on."""
    loras = _load_style_adapters(t2i, styles)
    fast_adapter = ""
    if settings.fast_lora:
        t2i.load_lora_weights(settings.fast_lora, adapter_name="fast")
        fast_adapter = "fast"
    if loras or fast_adapter:
        t2i.disable_lora()
    return loras, fast_adapter


def _load_ip_adapter(t2i: Any, settings: EngineSettings) -> Any:
    from .ip_adapter import IPAdapter

    return IPAdapter(
        t2i,
        settings.ip_adapter,
        _family(t2i),
        weight=settings.ip_adapter_weight,
        encoder=settings.ip_adapter_encoder,
        placement=settings.ip_adapter_placement,
        idle_s=settings.ip_adapter_idle_s,
    )


def _size_grid(t2i: Any) -> tuple[int, int]:
    """The native square size in pixels and the multiple every requested size is rounded to."""
    vae_factor = 2 ** (len(t2i.vae.config.block_out_channels) - 1)
    unet_downs = 2 ** (len(t2i.unet.config.block_out_channels) - 1)
    native = int(t2i.unet.config.sample_size) * vae_factor
    return native, max(vae_factor * unet_downs, 8 if native < 512 else 64)


def _load_side_models(models: Models, settings: EngineSettings) -> None:
    """The models beside the diffusion pipelines: the upscaler, the prompt models and the captioner."""
    if settings.upscaler:
        from .esrgan import load_upscaler

        models.upscaler = load_upscaler(settings.upscaler, device=models.device, dtype=models.dtype)
    if settings.llm == FAMILY_LLM:
        models.llm = family_llm(models)
    elif settings.llm:
        models.llm = _load_causal_lm(settings.llm, models.device)
    if settings.translator:
        models.translator = _load_translator(settings.translator, models.device)
    if settings.caption_model:
        from .describe import load_captioner

        models.captioner = load_captioner(settings.caption_model, models.device)


def _prepare_pipelines(models: Models, settings: EngineSettings) -> None:
    """Silences every pipeline's progress bar, then turns on VAE tiling and the configured fast paths."""
    for pipe in models.all_pipelines():
        pipe.set_progress_bar_config(disable=True)
    if settings.vae_tiling:
        models.text2img.vae.enable_tiling()  # 0.42 dropped pipe.enable_vae_tiling(); only large decodes are tiled
    from .perf import apply_fast_paths

    apply_fast_paths(models, settings)


def _load_style_adapters(pipe: Any, styles: dict[str, Style], loras: dict[str, Path] | None = None) -> dict[str, Path]:
    """Every style's LoRAs (once each, by adapter name) and embeddings (once per token) not in `loras` yet."""
    loras = {} if loras is None else loras
    for style in styles.values():
        for lora in style.loras:
            if lora.adapter_name not in loras and _load_lora(pipe, style, lora.adapter_name, lora.file):
                loras[lora.adapter_name] = lora.file
        for embedding in style.embeddings:
            if not hasattr(pipe, "load_textual_inversion"):  # CLIP-token embeddings: SD families only
                log.warning(
                    "style %s: embedding %s skipped (this family has no textual inversion)", style.id, embedding.file
                )
                continue
            if embedding.token not in pipe.tokenizer.get_vocab():
                pipe.load_textual_inversion(str(embedding.file), token=embedding.token)
    return loras


def load_style_adapters(models: Models, styles: dict[str, Style]) -> None:
    """Adapters of styles added while serving (the styles file reloaded), loaded into the shared UNet and left
    off until a run switches them on. Worker thread only."""
    known = set(models.loras)
    new = [lora for style in styles.values() for lora in style.loras if lora.adapter_name not in known]
    tokens = [
        e for style in styles.values() for e in style.embeddings if e.token not in models.text2img.tokenizer.get_vocab()
    ]
    if not new and not tokens:
        return
    _load_style_adapters(models.text2img, styles, models.loras)
    if models.loras or models.fast_adapter:
        models.text2img.disable_lora()
    _share_style_loras(models, styles)
    log.info("loaded %d new style adapters and %d embeddings (styles file changed)", len(new), len(tokens))


def _load_lora(pipe: Any, style: Style, name: str, file: Path) -> bool:
    """One style LoRA loaded (left off); False, logged, when it fits no layer of this model (another family's, or a
    broken file): Studio then leaves the style out rather than failing to start or drawing without it."""
    try:
        pipe.load_lora_weights(str(file.parent), weight_name=file.name, adapter_name=name)
    except (RuntimeError, ValueError, KeyError, OSError) as error:
        if name in adapters(pipe):
            pipe.delete_adapters(name)
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        log.warning("style %s left out: its LoRA %s does not fit this model (%s)", style.id, file, reason)
        return False
    if name not in adapters(pipe):
        log.warning("style %s left out: its LoRA %s has no layer of this model", style.id, file)
        return False
    return True


def adapters(pipe: Any) -> set[str]:
    """The LoRA adapters loaded into a pipeline, in any of its components."""
    return {name for names in pipe.get_list_adapters().values() for name in names}


def _share_style_loras(models: Models, styles: dict[str, Style]) -> None:
    """The styles' LoRAs in the pipelines with a transformer of their own too (Kandinsky 5's I2I, Qwen-Image's
    edit model: the same architecture, fine-tuned), left off: Studio.use_style_adapters switches them there as on
    the shared one, and a style trained on the text-to-image model also draws in those modes."""
    shared = getattr(models.text2img, "transformer", None)
    loaded = {lora.adapter_name: lora.file for style in styles.values() for lora in style.loras}
    new = {name: file for name, file in loaded.items() if name in models.loras}
    for pipe in models.all_pipelines():
        own = getattr(pipe, "transformer", None)
        if own is None or own is shared or not hasattr(pipe, "load_lora_weights"):
            continue
        present = adapters(pipe)
        for name, file in new.items():
            if name not in present:
                pipe.load_lora_weights(str(file.parent), weight_name=file.name, adapter_name=name)
        if set(new) - present:
            pipe.disable_lora()


def _load_structure(t2i: Any, settings: EngineSettings, dtype: torch.dtype, device: torch.device) -> Any:
    """The outline-keeping pipeline over the shared UNet.

    AutoPipelineForText2Image.from_pipe(t2i, adapter=...) silently returns a plain text2img pipeline with the
    adapter dropped (diffusers 0.42.1), so the concrete class is named, with dtype= against issue 12754.
    """
    from diffusers import (
        ControlNetModel,
        StableDiffusionAdapterPipeline,
        StableDiffusionControlNetPipeline,
        StableDiffusionXLAdapterPipeline,
        StableDiffusionXLControlNetPipeline,
        T2IAdapter,
    )

    xl = _family(t2i) == "sdxl"
    if settings.structure_adapter_kind == "controlnet":
        control = ControlNetModel.from_pretrained(settings.structure_adapter, dtype=dtype).to(device)
        controlnet_pipeline = StableDiffusionXLControlNetPipeline if xl else StableDiffusionControlNetPipeline
        return controlnet_pipeline.from_pipe(t2i, controlnet=control, dtype=dtype)
    adapter = T2IAdapter.from_pretrained(settings.structure_adapter, dtype=dtype).to(device)
    adapter_pipeline = StableDiffusionXLAdapterPipeline if xl else StableDiffusionAdapterPipeline
    return adapter_pipeline.from_pipe(t2i, adapter=adapter, dtype=dtype)


@dataclass
class LanguageModels:
    """Only the prompt models (what engine.prompts reads from Models), for `python -m engine beautify`."""

    llm: Any = None
    translator: Any = None


def load_language_models(settings: EngineSettings) -> LanguageModels:
    if settings.llm == FAMILY_LLM:
        raise ValueError(f"ENGINE_LLM={FAMILY_LLM} is the image model's text encoder: load the models (load_models)")
    quiet_libraries()
    device = pick_device(settings.device)
    return LanguageModels(
        llm=_load_causal_lm(settings.llm, device) if settings.llm else None,
        translator=_load_translator(settings.translator, device) if settings.translator else None,
    )


def _load_causal_lm(name: str, device: torch.device) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(name)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    # PreTrainedModel.to is a functools.wraps wrapper, which typeshed's _Wrapped does not bind as a method: mypy
    # takes the device for `self`.
    model = AutoModelForCausalLM.from_pretrained(name, dtype=dtype).to(device).eval()  # type: ignore[arg-type]
    return model, tokenizer


FAMILY_LLM = "family"  # ENGINE_LLM=family: the family's own text encoder writes the ✨ prompts


def family_llm(models: Models) -> tuple[Any, Any]:
    """The text-to-image pipeline's own text encoder and tokenizer as the prompt LLM: no second model in memory.

    FLUX.2 klein's Qwen3-4B and the Qwen2.5-VL-7B-Instruct of Qwen-Image and Kandinsky 5 are whole chat models,
    language-model head included (bench/RESULTS.md, "The prompt LLM"). CLIP and T5 are not: a clear error at start.
    """
    from transformers import GenerationMixin, PreTrainedModel

    encoder = getattr(models.text2img, "text_encoder", None)
    holder = getattr(models.text2img, "tokenizer", None)
    tokenizer = getattr(holder, "tokenizer", holder)  # Kandinsky 5 holds a Qwen2-VL processor
    causal = isinstance(encoder, PreTrainedModel) and isinstance(encoder, GenerationMixin)
    if not causal or encoder is None or encoder.get_output_embeddings() is None or tokenizer is None:
        raise ValueError(
            f"ENGINE_LLM={FAMILY_LLM}: the {models.family} text encoder ({type(encoder).__name__}) is not a causal "
            "language model; set ENGINE_LLM to a chat model (hub id or folder) instead"
        )
    if not tokenizer.chat_template:  # the pipeline chats through the processor, which holds the template
        tokenizer.chat_template = getattr(holder, "chat_template", None)
    return encoder, tokenizer


def _load_translator(name: str, device: torch.device) -> tuple[Any, Any]:
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(name)
    model = AutoModelForSeq2SeqLM.from_pretrained(name).to(device).eval()
    return model, tokenizer
