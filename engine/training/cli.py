"""`python -m engine train-style NAME --images DIR [options]`: a brand style from the company's own pictures."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

if TYPE_CHECKING:
    from .style import StyleTraining

HELP = "train a brand style (LoRA, optionally a textual-inversion embedding) from a folder of pictures"


def add_command(commands) -> None:
    parser = commands.add_parser("train-style", help=HELP, description=HELP)
    parser.add_argument("name", help="the new style's id (2-40 of a-z 0-9 - _)")
    parser.add_argument("--images", type=Path, required=True, help="folder of 2-500 pictures")
    parser.add_argument("--captions", type=Path, default=None, help="lines 'file.png<TAB>caption'; else file.txt")
    parser.add_argument("--trigger", default="", help="token added to every caption and to the style's prompt")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument(
        "--blocks",
        default="all",
        help="all, or a comma list of the family's blocks: SD down,mid,up; klein double,single; "
        "Kandinsky 5 text,visual; Qwen-Image early,middle,late",
    )
    parser.add_argument("--noise-offset", type=float, default=0.05, help="pure white/black backgrounds: ~0.05-0.1")
    parser.add_argument("--resolution", type=int, default=None, help="pixels; default the model's native size")
    parser.add_argument("--lr", type=float, default=1e-4, help="learning rate")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--embedding", action="store_true", help="SD1.5 only: also learn the trigger's embedding")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    parser.add_argument("--checkpoint-every", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name-en", default="", help="the style's name in English (default: NAME)")
    parser.add_argument("--name-ru", default="", help="the style's name in Russian (default: the English one)")
    parser.add_argument("--styles-file", type=Path, default=None, help="default: ENGINE_STYLES_FILE")
    parser.set_defaults(handler=run)


def job_of(args: argparse.Namespace) -> StyleTraining:
    from .style import StyleTraining

    names = {key: value for key, value in (("en", args.name_en), ("ru", args.name_ru)) if value}
    return StyleTraining(
        name=args.name,
        images=args.images,
        captions=args.captions,
        trigger=args.trigger,
        steps=args.steps,
        rank=args.rank,
        blocks=args.blocks,
        noise_offset=args.noise_offset,
        resolution=args.resolution,
        learning_rate=args.lr,
        batch=args.batch,
        embedding=args.embedding,
        resume=args.resume,
        checkpoint_every=args.checkpoint_every,
        seed=args.seed,
        names=names,
    )


def run(args: argparse.Namespace, settings) -> int:
    from .style import Stopped, TrainingError, TrainingHooks, train

    if args.styles_file is not None:
        settings = settings.model_copy(update={"styles_file": args.styles_file})
    job = job_of(args)
    bar = tqdm(total=job.steps, unit="step", file=sys.stderr, desc=f"train {job.name}")

    def progress(step: int, total: int) -> None:
        bar.n = step
        bar.refresh()

    try:
        outcome = train(job, settings, TrainingHooks(progress=progress))
    except (TrainingError, Stopped) as error:
        bar.close()
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        bar.close()
        print(
            f"stopped; the last checkpoint is kept (every {job.checkpoint_every} steps): add --resume", file=sys.stderr
        )
        return 130
    bar.close()
    print(f"adapter: {outcome.lora}")
    if outcome.embedding is not None:
        print(f"embedding: {outcome.embedding} (token {job.trigger})")
    print(f"style {job.name!r} added to {outcome.styles_file}")
    print(
        f"trained {outcome.steps} steps in {outcome.seconds:.1f} s (last loss {outcome.loss:.4f}), "
        f"peak memory {outcome.peak_rss_mb:.0f} MB"
    )
    return 0
