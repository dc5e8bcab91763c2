"""Brand styles: a LoRA (and, on SD1.5, a textual-inversion embedding) trained from the company's own pictures.

`python -m engine train-style NAME --images DIR` trains on the loaded model (ENGINE_MODEL) of any family, with
that family's own objective (engine/training/trainers/: the UNet's noise prediction for SD1.5/SDXL, rectified flow
for FLUX.2 klein, Kandinsky 5 and Qwen-Image), writes ENGINE_LORA_DIR/NAME.safetensors in the format the family's
pipeline loads, and adds a style record NAME to the administrator's styles file (ENGINE_STYLES_FILE); the engine
reloads that file when it changes, so the style appears without a restart.

Memory: the model is loaded in the engine's serving dtype (ENGINE_DTYPE: bf16 on a GPU, fp32 on a CPU) and stays
frozen in it; only the LoRA's parameters (and SD1.5's text encoder, when its embedding learns) are fp32, and so are
their gradients and AdamW's two moments (mixed precision as diffusers' LoRA scripts do it: the denoiser's inputs are
cast to its dtype, peft runs the adapter's branch in the adapter's fp32). The pictures are encoded to latents once
(the VAE in fp32 for it) and dropped, and the text is encoded once (unless an embedding is trained); the transformer
families then drop the VAE and text encoders too. So a step holds the frozen denoiser once, in bf16 on a GPU, the
adapter with its optimiser state and one batch; on CUDA the denoiser also checkpoints its activations. In figures
(parameters x 2 bytes; a rank-8 LoRA of every attention projection with its gradient and AdamW state, x 16 bytes,
is 0.1-0.4 GB): FLUX.2 klein 4B about 8 GB (its 4B Qwen3 text encoder, 8 GB more, only while the captions are
encoded), Qwen-Image about 41 GB for its 20B transformer (its 7B Qwen2.5-VL, 16.6 GB, only while encoding), SDXL
about 7 GB with its text encoders; in fp32 each twice that (Qwen-Image: 82 GB, more than an 80 GB H100).
Checkpoints every --checkpoint-every steps in ENGINE_LORA_DIR/.training/NAME/ let `--resume` continue after a stop.
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
from .trainers import FAMILIES, blocks_of, trainer_for
from .trainers.base import Trainer

PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
MIN_PICTURES = 2
MAX_PICTURES = 500


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
    blocks: str = "all"  # "all" or a comma list of the family's blocks (SD: down, mid, up; trainers/__init__.py)
    noise_offset: float = 0.05  # extra noise at the end of training: flat white/black backgrounds stay flat
    resolution: int | None = None  # default: the model's native size
    learning_rate: float = 1e-4
    batch: int = 1
    embedding: bool = False  # SD1.5: also learn the trigger token's embedding (textual inversion)
    resume: bool = False
    checkpoint_every: int = 100
    checkpoint: Path | None = None  # where its checkpoint goes; default ENGINE_LORA_DIR/.training/NAME/checkpoint.pt
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
    loss: float  # the last step's


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


def parse_blocks(blocks: str, family: str = "sd15") -> tuple[str, ...]:
    names = blocks_of(family)
    chosen = names if blocks == "all" else tuple(part.strip() for part in blocks.split(",") if part.strip())
    unknown = [part for part in chosen if part not in names]
    if unknown or not chosen:
        raise TrainingError(f"--blocks {blocks!r}: on {family} use all, or a comma list of {', '.join(names)}")
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
def model_family(settings: Any) -> str:
    """The family of the configured model, from its folder's model_index.json (no weights loaded); a single file
    or a hub id without an index is SD (SD1.5 and SDXL train alike; which one shows once loaded)."""
    from ..families import UnknownFamily, detect
    from ..models import resolve_model, with_tiny_kit

    settings = with_tiny_kit(settings)
    try:
        family = detect(resolve_model(settings), settings.family)
    except UnknownFamily as error:
        raise TrainingError(str(error)) from None
    name = family.name if family is not None else "sd15"
    if name not in FAMILIES:
        raise TrainingError(f"the {name} family cannot train styles")
    return name


def load_pipeline(settings: Any, trainer: Trainer) -> Any:
    """The configured model's text-to-image pipeline on the training device, in the dtype the engine serves it in
    (the model the engine loads: `settings` passed through with_tiny_kit)."""
    from ..models import pick_device, pick_dtype, quiet_libraries, resolve_model

    quiet_libraries()
    device = pick_device(settings.device)
    pipe = trainer.load(resolve_model(settings), pick_dtype(settings.dtype, device))
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def _square(path: Path, size: int) -> Image.Image:
    with Image.open(path) as image:
        return ImageOps.fit(ImageOps.exif_transpose(image).convert("RGB"), (size, size), Image.Resampling.LANCZOS)


def encode_pictures(pipe: Any, trainer: Trainer, files: list[Path], size: int) -> Any:
    """Each picture centre-cropped to `size`, as the family's latents (the VAE's posterior mean), one at a time."""
    import numpy as np
    import torch

    latents = []
    dtype = pipe.vae.dtype
    pipe.vae.to(torch.float32)  # the training targets: fp32 (and SDXL's VAE overflows in fp16); a VAE is small
    with torch.no_grad():
        for path in files:
            array = np.asarray(_square(path, size), dtype=np.float32) / 127.5 - 1.0
            x = torch.from_numpy(array).permute(2, 0, 1)[None].to(pipe.device)
            latents.append(trainer.encode_picture(pipe, x))
    pipe.vae.to(dtype)
    return torch.cat(latents)


def lora_config(rank: int, targets: str) -> Any:
    from peft import LoraConfig

    return LoraConfig(r=rank, lora_alpha=rank, init_lora_weights="gaussian", target_modules=targets)


# ---- the style record ------------------------------------------------------------------------------------------
def style_record(job: StyleTraining, lora: Path, embedding: Path | None, family: str) -> dict:
    record: dict[str, Any] = {
        "id": job.name,
        "name": {"en": job.names.get("en", job.name), "ru": job.names.get("ru", job.names.get("en", job.name))},
        "prompt": f"{{prompt}}, {job.trigger}" if job.trigger else "{prompt}",
        "loras": [{"file": lora.name, "strength": 1.0}],
        # The family it fits: its LoRA loads into that family's models only.
        "trained": {"family": family, "steps": job.steps, "rank": job.rank, "blocks": job.blocks},
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
class Run:
    job: StyleTraining
    trainer: Trainer
    pipe: Any
    latents: Any  # [N, C, h, w] in the family's latent space
    text: Any  # the captions as the trainer encoded them
    schedule: Any  # what the trainer draws noise levels from
    checkpoint: Path
    dtype: Any = None  # the frozen model's (torch.float32, or bf16 on a GPU); the trained parameters are fp32
    parameters: list = field(default_factory=list)  # the trained ones: the LoRA's (and SD1.5's token embedding)
    optimiser: Any = None
    step: int = 0
    loss: float = float("nan")  # the last step's
    started: float = field(default_factory=time.perf_counter)

    @property
    def denoiser(self) -> Any:
        return self.trainer.denoiser(self.pipe)


def checkpoint_path(lora_dir: Path, name: str) -> Path:
    return lora_dir / ".training" / name / "checkpoint.pt"


def save_checkpoint(run: Run) -> None:
    import torch
    from peft.utils import get_peft_model_state_dict

    state = {
        "step": run.step,
        "lora": get_peft_model_state_dict(run.denoiser),
        "optimiser": run.optimiser.state_dict(),
        "rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state(run.pipe.device) if run.pipe.device.type == "cuda" else None,
        "job": {"steps": run.job.steps, "rank": run.job.rank, "blocks": run.job.blocks},
        **run.trainer.state(run),
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
    set_peft_model_state_dict(run.denoiser, state["lora"])
    run.optimiser.load_state_dict(state["optimiser"])
    torch.set_rng_state(state["rng"])
    if state.get("cuda_rng") is not None and run.pipe.device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda_rng"].cpu(), run.pipe.device)
    run.trainer.restore(run, state)
    run.step = int(state["step"])


def training_step(run: Run) -> float:
    """One optimiser step on a batch drawn at random (with repeats) from the pictures; the batch's loss."""
    import torch

    pick = torch.randint(0, len(run.latents), (run.job.batch,))
    loss = run.trainer.loss(run, pick)
    run.optimiser.zero_grad(set_to_none=True)
    loss.backward()
    run.optimiser.step()
    run.trainer.after_step(run)
    return float(loss.item())


def prepare(job: StyleTraining, settings: Any, existing: set[str]) -> tuple[Trainer, list[Path], list[str]]:
    """Every check that needs no model, so bad input fails in a second: name, pictures, captions, options (those
    that do not apply to the model's family too)."""
    check_name(job.name, existing)
    files = pictures(job.images)
    trainer = trainer_for(model_family(settings))
    parse_blocks(job.blocks, trainer.family)
    if job.steps < 1 or job.rank < 1 or job.batch < 1 or job.learning_rate <= 0:
        raise TrainingError("--steps, --rank, --batch and --lr must be positive")
    if job.embedding and not job.trigger:
        raise TrainingError("--embedding learns the trigger token: give --trigger, e.g. --trigger '<brand>'")
    trainer.refuse(job)
    if job.resolution is not None and (job.resolution < 64 or job.resolution % trainer.multiple):
        raise TrainingError(f"--resolution must be a multiple of {trainer.multiple}, at least 64")
    if settings.styles_file is None:
        raise TrainingError("ENGINE_STYLES_FILE is not set: the new style needs the administrator's styles file")
    return trainer, files, read_captions(files, job.captions, job.trigger)


def start_run(job: StyleTraining, settings: Any, trainer: Trainer, files: list[Path], captions: list[str]) -> Run:
    import torch

    from ..models import with_tiny_kit

    torch.manual_seed(job.seed)
    model_settings = with_tiny_kit(settings)
    pipe = load_pipeline(model_settings, trainer)
    size = job.resolution or trainer.native(pipe, model_settings)
    for module in pipe.components.values():
        if isinstance(module, torch.nn.Module):
            module.requires_grad_(False)
    latents = encode_pictures(pipe, trainer, files, size)
    text = trainer.encode_text(pipe, captions, size, job, model_settings)
    trainer.release(pipe)
    denoiser = trainer.denoiser(pipe)
    dtype = denoiser.dtype
    blocks = parse_blocks(job.blocks, trainer.family)
    denoiser.add_adapter(lora_config(job.rank, trainer.lora_targets(denoiser, blocks)))
    schedule = trainer.schedule(pipe, size, model_settings)
    checkpoint = job.checkpoint or checkpoint_path(settings.lora_dir, job.name)
    run = Run(job, trainer, pipe, latents, text, schedule, checkpoint, dtype)
    lora = [p for p in denoiser.parameters() if p.requires_grad]  # the rest was frozen above
    for parameter in lora:  # peft makes them in the base layer's dtype: bf16 would round the small updates away
        parameter.data = parameter.data.float()
    run.parameters = lora + trainer.extra_parameters(run)
    if pipe.device.type == "cuda":
        denoiser.enable_gradient_checkpointing()
    denoiser.train()
    run.optimiser = torch.optim.AdamW(run.parameters, lr=job.learning_rate, weight_decay=1e-2)
    if job.resume:
        load_checkpoint(run)
    return run


def finish(run: Run, lora_dir: Path) -> tuple[Path, Path | None]:
    """The adapter in the diffusers/peft LoRA format (loads with load_lora_weights) and the embedding, if any."""
    lora_dir.mkdir(parents=True, exist_ok=True)
    return run.trainer.save(run, lora_dir)


def existing_styles(settings: Any) -> set[str]:
    from ..styles import load_styles

    return set(load_styles(settings.styles_file if _readable(settings.styles_file) else None, settings.lora_dir))


def begin(job: StyleTraining, settings: Any, existing: set[str]) -> Run:
    """Check the input (against the style ids in `existing`) and set the run up: the model, the pictures as latents,
    the captions encoded. The slow part before the first step; raises TrainingError."""
    started = time.perf_counter()
    trainer, files, captions = prepare(job, settings, existing)
    run = start_run(job, settings, trainer, files, captions)
    run.started = started
    return run


def advance(run: Run) -> None:
    """One training step, and a checkpoint when one is due."""
    run.loss = training_step(run)
    run.step += 1
    if run.step % run.job.checkpoint_every == 0 and run.step < run.job.steps:
        save_checkpoint(run)


def complete(run: Run, settings: Any) -> Outcome:
    """The trained run written out: the adapter (and embedding), the style record in the administrator's file."""
    lora, embedding = finish(run, settings.lora_dir)
    record = style_record(run.job, lora, embedding, run.trainer.family)
    add_style(settings.styles_file, record)
    run.checkpoint.unlink(missing_ok=True)
    seconds = time.perf_counter() - run.started
    return Outcome(lora, embedding, settings.styles_file, seconds, peak_rss_mb(), run.job.steps, record, run.loss)


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
