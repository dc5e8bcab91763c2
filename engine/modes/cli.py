"""Command-line subcommands of the image modes (`python -m engine vary IMG`, ...).

    python -m engine vary IMG [--strong] [-n 4] [--prompt TEXT]
    python -m engine restyle IMG --style ID
    python -m engine reimagine IMG [-n 4]
    python -m engine mix A B [C D] [--balance 70] [--prompt TEXT] [--aspect 16:9]
    python -m engine remix IMG "prompt" [--structure 1.0]
    python -m engine photo IMG "caption"
    python -m engine upscale IMG
    python -m engine zoom IMG --aspect 16:9 [--zoom 1.5]
    python -m engine beautify "prompt"          (prints the prompt the text encoder would see)

A picture of ours (a PNG the engine made) brings its own prompt and style unless --prompt/--style are given.
The picture commands all take --out DIR, --seed, --style, --fast, --steps.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..api import ASPECTS, MAX_COUNT, ImageRequest, Mode


def add_commands(commands, common) -> None:
    """Each subcommand's name is `args.command`; `beautify` runs without the queue through `args.handler`."""

    def picture_command(name: str, help: str, count: bool = True):
        parser = commands.add_parser(name, help=help)
        parser.add_argument("image", type=Path)
        if count:
            parser.add_argument("-n", "--count", type=int, default=MAX_COUNT)
        common(parser)
        return parser

    vary = picture_command("vary", "variations of a picture (img2img, subtle or strong)")
    vary.add_argument("--strong", action="store_true", help="a strong variation (default: subtle)")
    vary.add_argument("--prompt", default="", help="default: the prompt of a picture of ours")
    vary.add_argument("--strength", type=float, default=None, help="denoise override, 0..1")

    restyle = picture_command("restyle", "the same prompt and seed (or the photo) through another style")
    restyle.add_argument("--prompt", default="")

    picture_command("reimagine", "variations of a picture without text (IP-Adapter)")

    mix = commands.add_parser("mix", help="mix two to four pictures (IP-Adapter), a weight per picture")
    mix.add_argument("images", type=Path, nargs="+", metavar="IMAGE")
    mix.add_argument("--balance", type=float, default=None, help="two pictures: percent of the first (e.g. 70)")
    mix.add_argument("--weights", type=float, nargs="+", default=None, help="a weight per picture")
    mix.add_argument("--prompt", default="")
    mix.add_argument("--aspect", default="", choices=("", *ASPECTS), help="default: the first picture's")
    mix.add_argument("-n", "--count", type=int, default=MAX_COUNT)
    common(mix)

    remix = picture_command("remix", "a new prompt/style over the picture's outlines (edge map)")
    remix.add_argument("prompt", nargs="?", default="")
    remix.add_argument("--structure", type=float, default=1.0, help="how strictly outlines are kept, 0..2")

    photo = picture_command("photo", "a photo guides, the caption is the prompt")
    photo.add_argument("prompt")
    photo.add_argument("--strength", type=float, default=None, help="also img2img from the photo, 0..1")

    picture_command("upscale", "to long side 4096 (settings.upscale_long_side) as a file", count=False)

    zoom = picture_command("zoom", "extend the picture to another aspect (outpainting)")
    zoom.add_argument("--aspect", default="", choices=("", *ASPECTS))
    zoom.add_argument("--zoom", type=float, default=1.0, help="zoom out further: 1.5, 2")
    zoom.add_argument("--prompt", default="")

    beautify = commands.add_parser("beautify", help="print the prompt after translation and the LLM")
    beautify.add_argument("prompt")
    beautify.add_argument("--seed", type=int, default=0)
    beautify.add_argument("--no-translate", action="store_true")
    beautify.set_defaults(handler=_beautify)


def request(args: argparse.Namespace) -> ImageRequest:
    command = args.command
    common = {
        "style": args.style,
        "seed": args.seed,
        "profile": "fast" if args.fast else None,
        "steps": args.steps,
    }
    if command == "mix":
        images = tuple(_read(path) for path in args.images)
        return ImageRequest(
            mode=Mode.MIX,
            images=images,
            weights=_mix_weights(args, len(images)),
            prompt=args.prompt,
            aspect=args.aspect,
            count=args.count,
            **common,
        )
    image = (_read(args.image),)
    if command == "vary":
        return ImageRequest(
            mode=Mode.VARY,
            images=image,
            prompt=args.prompt,
            variation="strong" if args.strong else "subtle",
            strength=args.strength,
            count=args.count,
            **common,
        )
    if command == "restyle":
        if not args.style:
            raise SystemExit("restyle needs --style ID (see `python -m engine styles`)")
        return ImageRequest(mode=Mode.RESTYLE, images=image, prompt=args.prompt, count=args.count, **common)
    if command == "reimagine":
        return ImageRequest(mode=Mode.REIMAGINE, images=image, count=args.count, **common)
    if command == "remix":
        return ImageRequest(
            mode=Mode.REMIX, images=image, prompt=args.prompt, structure=args.structure, count=args.count, **common
        )
    if command == "photo":
        return ImageRequest(
            mode=Mode.PHOTO_PROMPT,
            images=image,
            prompt=args.prompt,
            strength=args.strength,
            count=args.count,
            **common,
        )
    if command == "upscale":
        return ImageRequest(mode=Mode.UPSCALE, images=image, count=1, **common)
    if command == "zoom":
        return ImageRequest(
            mode=Mode.ZOOM,
            images=image,
            aspect=args.aspect,
            zoom=args.zoom,
            prompt=args.prompt,
            count=args.count,
            **common,
        )
    raise SystemExit(f"unknown command {command}")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise SystemExit(f"cannot read {path}: {error.strerror}") from None


def _mix_weights(args: argparse.Namespace, count: int) -> tuple[float, ...]:
    if args.weights:
        return tuple(args.weights)
    if args.balance is not None:
        if count != 2 or not 0 <= args.balance <= 100:
            raise SystemExit("--balance takes a percent 0..100 for two pictures; use --weights for more")
        return (args.balance / 100, 1 - args.balance / 100)
    return ()


def _beautify(args: argparse.Namespace, settings) -> int:
    """Loads only the language models (not the pictures' ones) and prints the final prompt."""
    from .. import prompts
    from ..models import load_language_models, with_tiny_kit

    settings = with_tiny_kit(settings)
    models = load_language_models(settings)
    if models.llm is None:
        print("note: no LLM configured (ENGINE_LLM); the prompt is only translated", flush=True)
    request = ImageRequest(prompt=args.prompt, beautify=True, translate=not args.no_translate)
    print(prompts.rewrite(models, settings, request, args.seed))
    return 0
