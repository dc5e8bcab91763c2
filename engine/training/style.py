"""Brand styles: a LoRA (and, on SD1.5, a textual-inversion embedding) trained from the company's own pictures.

`python -m engine train-style NAME --images DIR` trains on the loaded model (ENGINE_MODEL), writes
ENGINE_LORA_DIR/NAME.safetensors and adds a style record NAME to the administrator's styles file
(ENGINE_STYLES_FILE); the engine reloads that file when it changes, so the style appears without a restart.

Memory: the pictures are encoded to latents once and dropped, the VAE is not used again, and the text is encoded
once (unless an embedding is trained), so a step holds the frozen UNet, the adapter with its optimiser state and
one batch; on CUDA the UNet also checkpoints its activations. Checkpoints every --checkpoint-every steps in
ENGINE_LORA_DIR/.training/NAME/ let `--resume` continue after a stop.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from PIL import Image, ImageOps

from ..api import STYLE_NAME_RULE

PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
MIN_PICTURES = 2
MAX_PICTURES = 500
BLOCKS = ("down", "mid", "up")
TARGETS = r"(to_q|to_k|to_v|to_out\.0)"


class TrainingError(Exception):
    """Input the trainer cannot use; the message says what and how to fix it (the command exits with 2)."""


@dataclass
class StyleTraining:
    name: str
    images: Path
    captions: Path | None = None
    trigger: str = ""
    steps: int = 500
    rank: int = 8
    blocks: str = "all"  # "all" or a comma list of down, mid, up
    noise_offset: float = 0.05  # extra noise at the end of training: flat white/black backgrounds stay flat
    resolution: int | None = None  # default: the model's native size
    learning_rate: float = 1e-4
    batch: int = 1
    embedding: bool = False  # SD1.5: also learn the trigger token's embedding (textual inversion)
    resume: bool = False
    checkpoint_every: int = 100
    seed: int = 0
    names: dict[str, str] = field(default_factory=dict)
    source: str = ""  # where the pictures came from, for the style record; default the folder


@dataclass
class Outcome:
    lora: Path
    embedding: Path | None
    styles_file: Path
    seconds: float
    peak_rss_mb: float
    steps: int
    record: dict


# ---- checking the input --------------------------------------------------------------------------------------
def pictures(folder: Path) -> list[Path]:
    """The training pictures in `folder`; TrainingError for none, one, too many or unreadable files."""
    if not folder.is_dir():
        raise TrainingError(f"{folder}: no such folder of pictures")
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    candidates = [p for p in files if p.suffix.lower() in PICTURE_SUFFIXES]
    if not candidates:
        raise TrainingError(f"{folder}: no pictures (expected {', '.join(PICTURE_SUFFIXES)} files)")
    unreadable = []
    for path in candidates:
        try:
            with Image.open(path) as image:
                image.load()
        except Exception:
            unreadable.append(path.name)
    if unreadable:
        raise TrainingError(f"{folder}: cannot read {', '.join(unreadable)}; remove or replace these files")
    if len(candidates) < MIN_PICTURES:
        raise TrainingError(f"{folder}: {len(candidates)} picture; a style needs at least {MIN_PICTURES}")
    if len(candidates) > MAX_PICTURES:
        raise TrainingError(f"{folder}: {len(candidates)} pictures; at most {MAX_PICTURES}")
    return candidates


def check_name(name: str, existing: set[str]) -> None:
    if not STYLE_NAME_RULE.match(name):
        raise TrainingError(f"style name {name!r}: use 2-40 lower-case letters, digits, '-' or '_'")
    if name in existing:
        raise TrainingError(f"a style named {name!r} exists; choose another name or remove it from the styles file")


def parse_blocks(blocks: str) -> tuple[str, ...]:
    chosen = BLOCKS if blocks == "all" else tuple(part.strip() for part in blocks.split(",") if part.strip())
    unknown = [part for part in chosen if part not in BLOCKS]
    if unknown or not chosen:
        raise TrainingError(f"--blocks {blocks!r}: use all, or a comma list of {', '.join(BLOCKS)}")
    return chosen


def read_captions(files: list[Path], captions: Path | None, trigger: str) -> list[str]:
    """One caption per picture: from the captions file (`name<TAB or :>caption` lines), else a `name.txt` beside
    the picture, else none; the trigger token is appended to each."""
    given: dict[str, str] = {}
    if captions is not None:
        if not captions.is_file():
            raise TrainingError(f"{captions}: no such captions file")
        for line in captions.read_text(encoding="utf-8").splitlines():
            key, sep, text = line.partition("\t") if "\t" in line else line.partition(":")
            if sep and key.strip():
                given[key.strip()] = text.strip()
    result = []
    for path in files:
        side = path.with_suffix(".txt")
        text = given.get(
            path.name, given.get(path.stem, side.read_text(encoding="utf-8").strip() if side.is_file() else "")
        )
        result.append(", ".join(part for part in (text, trigger) if part))
    return result


# ---- the model -----------------------------------------------------------------------------------------------
def load_pipeline(settings: Any) -> Any:
    """The configured model's text-to-image pipeline in fp32 on the training device (the same loading path as the
    engine's); TrainingError for a family without a UNet."""
    import torch

    from ..models import _from_pretrained, pick_device, quiet_libraries, resolve_model, with_tiny_kit

    quiet_libraries()
    settings = with_tiny_kit(settings)
    pipe = _from_pretrained(resolve_model(settings), torch.float32)
    if getattr(pipe, "unet", None) is None:
        raise TrainingError(f"{type(pipe).__name__}: train-style supports the SD1.5 and SDXL families")
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(pick_device(settings.device))


def _square(path: Path, size: int) -> Image.Image:
    with Image.open(path) as image:
        return ImageOps.fit(ImageOps.exif_transpose(image).convert("RGB"), (size, size), Image.Resampling.LANCZOS)


def encode_pictures(pipe: Any, files: list[Path], size: int) -> Any:
    """Each picture centre-cropped to `size`, as scaled VAE latents (the posterior mean), one at a time."""
    import numpy as np
    import torch

    latents = []
    with torch.no_grad():
        for path in files:
            array = np.asarray(_square(path, size), dtype=np.float32) / 127.5 - 1.0
            x = torch.from_numpy(array).permute(2, 0, 1)[None].to(pipe.device)
            latents.append(pipe.vae.encode(x).latent_dist.mean * pipe.vae.config.scaling_factor)
    return torch.cat(latents)


def lora_config(rank: int, blocks: tuple[str, ...]) -> Any:
    from peft import LoraConfig

    parts = {"down": r"down_blocks", "mid": r"mid_block", "up": r"up_blocks"}
    pattern = rf"^({'|'.join(parts[b] for b in blocks)})\..*\.{TARGETS}$"
    return LoraConfig(r=rank, lora_alpha=rank, init_lora_weights="gaussian", target_modules=pattern)


# ---- the style record ------------------------------------------------------------------------------------------
def style_record(job: StyleTraining, lora: Path, embedding: Path | None) -> dict:
    record: dict[str, Any] = {
        "id": job.name,
        "name": {"en": job.names.get("en", job.name), "ru": job.names.get("ru", job.names.get("en", job.name))},
        "prompt": f"{{prompt}}, {job.trigger}" if job.trigger else "{prompt}",
        "loras": [{"file": lora.name, "strength": 1.0}],
        "trained": {"steps": job.steps, "rank": job.rank, "blocks": job.blocks},
    }
    record["trained"]["pictures"] = job.source or str(job.images)
    if embedding is not None:
        record["embeddings"] = [{"file": embedding.name, "token": job.trigger}]
    return record


def add_style(styles_file: Path, record: dict) -> None:
    """Append the record to the administrator's styles file (created if missing), atomically: the engine may
    read it at any moment."""
    data: Any = yaml.safe_load(styles_file.read_text(encoding="utf-8")) if styles_file.is_file() else None
    data = data or {"styles": []}
    records = data.setdefault("styles", []) if isinstance(data, dict) else data
    records.append(record)
    styles_file.parent.mkdir(parents=True, exist_ok=True)
    partial = styles_file.with_name(f".{styles_file.name}.partial")
    partial.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    os.replace(partial, styles_file)


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---- training ----------------------------------------------------------------------------------------------------
@dataclass
class TrainingHooks:
    """How the command watches and steers a run: progress after each step, a stop request (checkpointed first).
    The engine's worker drives a run itself, a step per turn (begin, advance, complete): engine/training/jobs.py."""

    progress: Callable[[int, int], None] = lambda step, total: None
    stop: Callable[[], bool] = lambda: False


class Stopped(Exception):
    """The run was asked to stop; its last checkpoint is on disk (`--resume` continues from it)."""


@dataclass
class Conditioning:
    prompt_embeds: Any  # [N, 77, D]; None when an embedding is trained (encoded per step)
    added: dict[str, Any]  # SDXL's pooled text and time ids, per picture
    token_ids: Any = None  # [N, 77] for the textual-inversion run


def encode_text(pipe: Any, captions: list[str], size: int) -> Conditioning:
    import torch

    with torch.no_grad():
        if getattr(pipe, "text_encoder_2", None) is None:
            embeds = pipe.encode_prompt(captions, pipe.device, 1, False)[0]
            return Conditioning(embeds, {})
        embeds, _, pooled, _ = pipe.encode_prompt(captions, device=pipe.device, do_classifier_free_guidance=False)
        time_ids = torch.tensor([[size, size, 0, 0, size, size]] * len(captions), dtype=embeds.dtype)
        return Conditioning(embeds, {"text_embeds": pooled, "time_ids": time_ids.to(pipe.device)})


def add_token(pipe: Any, token: str) -> int:
    """A new token for textual inversion, its embedding started from the mean of the vocabulary's."""
    import torch

    if pipe.tokenizer.add_tokens(token) != 1:
        raise TrainingError(f"--trigger {token!r} is already a word of the tokenizer; pick a new one, e.g. <{token}>")
    token_id = pipe.tokenizer.convert_tokens_to_ids(token)
    pipe.text_encoder.resize_token_embeddings(len(pipe.tokenizer))
    weights = pipe.text_encoder.get_input_embeddings().weight
    with torch.no_grad():
        weights[token_id] = weights[:-1].mean(0)
    return int(token_id)


@dataclass
class Run:
    job: StyleTraining
    pipe: Any
    latents: Any
    text: Conditioning
    optimiser: Any
    parameters: list
    token_id: int | None
    frozen_embeddings: Any
    checkpoint: Path
    noise_schedule: Any = None
    step: int = 0
    started: float = field(default_factory=time.perf_counter)


def checkpoint_path(lora_dir: Path, name: str) -> Path:
    return lora_dir / ".training" / name / "checkpoint.pt"


def save_checkpoint(run: Run) -> None:
    import torch
    from peft.utils import get_peft_model_state_dict

    state = {
        "step": run.step,
        "lora": get_peft_model_state_dict(run.pipe.unet),
        "optimiser": run.optimiser.state_dict(),
        "rng": torch.get_rng_state(),
        "embedding": None
        if run.token_id is None
        else run.pipe.text_encoder.get_input_embeddings().weight[run.token_id],
        "job": {"steps": run.job.steps, "rank": run.job.rank, "blocks": run.job.blocks},
    }
    run.checkpoint.parent.mkdir(parents=True, exist_ok=True)
    partial = run.checkpoint.with_suffix(".partial")
    torch.save(state, partial)
    os.replace(partial, run.checkpoint)


def load_checkpoint(run: Run) -> None:
    import torch
    from peft.utils import set_peft_model_state_dict

    if not run.checkpoint.is_file():
        raise TrainingError(f"--resume: no checkpoint of {run.job.name!r} at {run.checkpoint}")
    state = torch.load(run.checkpoint, map_location=run.pipe.device, weights_only=False)
    expected = {"steps": run.job.steps, "rank": run.job.rank, "blocks": run.job.blocks}
    if state["job"] != expected:
        raise TrainingError(f"--resume: the checkpoint was made with {state['job']}, not {expected}")
    set_peft_model_state_dict(run.pipe.unet, state["lora"])
    run.optimiser.load_state_dict(state["optimiser"])
    torch.set_rng_state(state["rng"])
    if run.token_id is not None and state["embedding"] is not None:
        with torch.no_grad():
            run.pipe.text_encoder.get_input_embeddings().weight[run.token_id] = state["embedding"]
    run.step = int(state["step"])


def training_step(run: Run, noise_schedule: Any) -> float:
    import torch

    job, pipe = run.job, run.pipe
    pick = torch.randint(0, len(run.latents), (job.batch,))
    x0 = run.latents[pick]
    noise = torch.randn_like(x0) + job.noise_offset * torch.randn(job.batch, x0.shape[1], 1, 1, device=x0.device)
    t = torch.randint(0, noise_schedule.config.num_train_timesteps, (job.batch,), device=x0.device)
    xt = noise_schedule.add_noise(x0, noise, t)
    if run.token_id is not None:
        embeds = pipe.text_encoder(run.text.token_ids[pick])[0]
    else:
        embeds = run.text.prompt_embeds[pick]
    added = {key: value[pick] for key, value in run.text.added.items()} or None
    predicted = pipe.unet(xt, t, embeds, added_cond_kwargs=added).sample
    target = (
        noise_schedule.get_velocity(x0, noise, t) if noise_schedule.config.prediction_type == "v_prediction" else noise
    )
    loss = torch.nn.functional.mse_loss(predicted.float(), target.float())
    run.optimiser.zero_grad(set_to_none=True)
    loss.backward()
    run.optimiser.step()
    if run.token_id is not None:  # only the new token's row learns
        with torch.no_grad():
            weights = pipe.text_encoder.get_input_embeddings().weight
            keep = torch.arange(len(weights), device=weights.device) != run.token_id
            weights[keep] = run.frozen_embeddings[keep]
    return float(loss.item())


def prepare(job: StyleTraining, settings: Any, existing: set[str]) -> tuple[list[Path], list[str]]:
    """Every check that needs no model, so bad input fails in a second: name, pictures, captions, options."""
    check_name(job.name, existing)
    files = pictures(job.images)
    parse_blocks(job.blocks)
    if job.steps < 1 or job.rank < 1 or job.batch < 1 or job.learning_rate <= 0:
        raise TrainingError("--steps, --rank, --batch and --lr must be positive")
    if job.embedding and not job.trigger:
        raise TrainingError("--embedding learns the trigger token: give --trigger, e.g. --trigger '<brand>'")
    if job.resolution is not None and (job.resolution < 64 or job.resolution % 8):
        raise TrainingError("--resolution must be a multiple of 8, at least 64")
    if settings.styles_file is None:
        raise TrainingError("ENGINE_STYLES_FILE is not set: the new style needs the administrator's styles file")
    return files, read_captions(files, job.captions, job.trigger)


def start_run(job: StyleTraining, settings: Any, files: list[Path], captions: list[str]) -> Run:
    import torch

    torch.manual_seed(job.seed)
    pipe = load_pipeline(settings)
    size = job.resolution or int(pipe.unet.config.sample_size) * pipe.vae_scale_factor
    for module in (pipe.unet, pipe.vae, pipe.text_encoder, getattr(pipe, "text_encoder_2", None)):
        if module is not None:
            module.requires_grad_(False)
    latents = encode_pictures(pipe, files, size)
    token_id = None
    if job.embedding:
        if getattr(pipe, "text_encoder_2", None) is not None:
            raise TrainingError("--embedding: textual inversion is supported for the SD1.5 family only")
        token_id = add_token(pipe, job.trigger)
    text = encode_text(pipe, captions, size)
    if token_id is not None:
        ids = pipe.tokenizer(
            captions, padding="max_length", max_length=pipe.tokenizer.model_max_length, truncation=True
        )
        text.token_ids = torch.tensor(ids.input_ids, device=pipe.device)
    pipe.unet.add_adapter(lora_config(job.rank, parse_blocks(job.blocks)))
    parameters = [p for p in pipe.unet.parameters() if p.requires_grad]
    frozen = None
    if token_id is not None:
        embeddings = pipe.text_encoder.get_input_embeddings().weight
        embeddings.requires_grad_(True)
        frozen = embeddings.detach().clone()
        parameters.append(embeddings)
    if pipe.device.type == "cuda":
        pipe.unet.enable_gradient_checkpointing()
    pipe.unet.train()
    optimiser = torch.optim.AdamW(parameters, lr=job.learning_rate, weight_decay=1e-2)
    run = Run(
        job, pipe, latents, text, optimiser, parameters, token_id, frozen, checkpoint_path(settings.lora_dir, job.name)
    )
    if job.resume:
        load_checkpoint(run)
    return run


def finish(run: Run, lora_dir: Path) -> tuple[Path, Path | None]:
    """The adapter in the diffusers/peft LoRA format (loads with load_lora_weights) and the embedding, if any."""
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft.utils import get_peft_model_state_dict
    from safetensors.torch import save_file

    lora_dir.mkdir(parents=True, exist_ok=True)
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(run.pipe.unet))
    type(run.pipe).save_lora_weights(lora_dir, unet_lora_layers=layers, weight_name=f"{run.job.name}.safetensors")
    embedding = None
    if run.token_id is not None:
        embedding = lora_dir / f"{run.job.name}-embedding.safetensors"
        vector = run.pipe.text_encoder.get_input_embeddings().weight[run.token_id].detach().cpu().clone()
        save_file({run.job.trigger: vector[None].contiguous()}, str(embedding))
    return lora_dir / f"{run.job.name}.safetensors", embedding


def existing_styles(settings: Any) -> set[str]:
    from ..styles import load_styles

    return set(load_styles(settings.styles_file if _readable(settings.styles_file) else None, settings.lora_dir))


def begin(job: StyleTraining, settings: Any, existing: set[str]) -> Run:
    """Check the input (against the style ids in `existing`) and set the run up: the model, the pictures as latents,
    the captions encoded. The slow part before the first step; raises TrainingError."""
    from diffusers import DDPMScheduler

    started = time.perf_counter()
    files, captions = prepare(job, settings, existing)
    run = start_run(job, settings, files, captions)
    run.noise_schedule = DDPMScheduler.from_config(run.pipe.scheduler.config)
    run.started = started
    return run


def advance(run: Run) -> None:
    """One training step, and a checkpoint when one is due."""
    training_step(run, run.noise_schedule)
    run.step += 1
    if run.step % run.job.checkpoint_every == 0 and run.step < run.job.steps:
        save_checkpoint(run)


def complete(run: Run, settings: Any) -> Outcome:
    """The trained run written out: the adapter (and embedding), the style record in the administrator's file."""
    lora, embedding = finish(run, settings.lora_dir)
    record = style_record(run.job, lora, embedding)
    add_style(settings.styles_file, record)
    run.checkpoint.unlink(missing_ok=True)
    seconds = time.perf_counter() - run.started
    return Outcome(lora, embedding, settings.styles_file, seconds, peak_rss_mb(), run.job.steps, record)


def train(job: StyleTraining, settings: Any, hooks: TrainingHooks | None = None) -> Outcome:
    """Check the input, train, write the adapter and the style record. Raises TrainingError or Stopped."""
    hooks = hooks or TrainingHooks()
    run = begin(job, settings, existing_styles(settings))
    while run.step < job.steps:
        if hooks.stop():
            save_checkpoint(run)
            raise Stopped(f"stopped at step {run.step} of {job.steps}; --resume continues")
        advance(run)
        hooks.progress(run.step, job.steps)
    return complete(run, settings)


def _readable(path: Path | None) -> bool:
    return path is not None and Path(path).is_file()
