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
from typing import Any

from ..api import ASPECTS, MAX_COUNT, ImageRequest, Mode, Variation


def add_commands(commands, common) -> None:
    """Each subcommand's name is `args.command`; `beautify` runs without the queue through `args.handler`."""
    for add in (_add_vary, _add_restyle, _add_reimagine, _add_mix, _add_remix, _add_photo, _add_upscale, _add_zoom):
        add(commands, common)
    _add_beautify(commands)


def _picture_command(commands, common, name: str, help: str, count: bool = True) -> argparse.ArgumentParser:
    parser = commands.add_parser(name, help=help)
    parser.add_argument("image", type=Path)
    if count:
        parser.add_argument("-n", "--count", type=int, default=MAX_COUNT)
    common(parser)
    return parser


def _add_vary(commands, common) -> None:
    vary = _picture_command(commands, common, "vary", "variations of a picture (img2img, subtle or strong)")
    vary.add_argument("--strong", action="store_true", help="a strong variation (default: subtle)")
    vary.add_argument("--prompt", default="", help="default: the prompt of a picture of ours")
    vary.add_argument("--strength", type=float, default=None, help="denoise override, 0..1")


def _add_restyle(commands, common) -> None:
    summary = "the same prompt and seed (or the photo) through another style"
    _picture_command(commands, common, "restyle", summary).add_argument("--prompt", default="")


def _add_reimagine(commands, common) -> None:
    _picture_command(commands, common, "reimagine", "variations of a picture without text (IP-Adapter)")


def _add_mix(commands, common) -> None:
    mix = commands.add_parser("mix", help="mix two to four pictures (IP-Adapter), a weight per picture")
    mix.add_argument("images", type=Path, nargs="+", metavar="IMAGE")
    mix.add_argument("--balance", type=float, default=None, help="two pictures: percent of the first (e.g. 70)")
    mix.add_argument("--weights", type=float, nargs="+", default=None, help="a weight per picture")
    mix.add_argument("--prompt", default="")
    mix.add_argument("--aspect", default="", choices=("", *ASPECTS), help="default: the first picture's")
    mix.add_argument("-n", "--count", type=int, default=MAX_COUNT)
    common(mix)


def _add_remix(commands, common) -> None:
    remix = _picture_command(commands, common, "remix", "a new prompt/style over the picture's outlines (edge map)")
    remix.add_argument("prompt", nargs="?", default="")
    remix.add_argument("--structure", type=float, default=1.0, help="how strictly outlines are kept, 0..2")


def _add_photo(commands, common) -> None:
    photo = _picture_command(commands, common, "photo", "a photo guides, the caption is the prompt")
    photo.add_argument("prompt")
    photo.add_argument("--strength", type=float, default=None, help="also img2img from the photo, 0..1")


def _add_upscale(commands, common) -> None:
    summary = "to long side 4096 (settings.upscale_long_side) as a file"
    _picture_command(commands, common, "upscale", summary, count=False)


def _add_zoom(commands, common) -> None:
    zoom = _picture_command(commands, common, "zoom", "extend the picture to another aspect (outpainting)")
    zoom.add_argument("--aspect", default="", choices=("", *ASPECTS))
    zoom.add_argument("--zoom", type=float, default=1.0, help="zoom out further: 1.5, 2")
    zoom.add_argument("--prompt", default="")


def _add_beautify(commands) -> None:
    beautify = commands.add_parser("beautify", help="print the prompt after translation and the LLM")
    beautify.add_argument("prompt")
    beautify.add_argument("--seed", type=int, default=0)
    beautify.add_argument("--no-translate", action="store_true")
    beautify.set_defaults(handler=_beautify)


def request(args: argparse.Namespace) -> ImageRequest:
    common = {
        "style": args.style,
        "seed": args.seed,
        "profile": "fast" if args.fast else None,
        "steps": args.steps,
    }
    if args.command == "mix":
        return _mix_request(args, common)
    image = (_read(args.image),)
    one_picture_request = _ONE_PICTURE_REQUESTS.get(args.command)
    if one_picture_request is None:
        raise SystemExit(f"unknown command {args.command}")
    return one_picture_request(args, image, common)


def _mix_request(args: argparse.Namespace, common: dict) -> ImageRequest:
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


def _vary_request(args: argparse.Namespace, image: tuple[bytes], common: dict) -> ImageRequest:
    variation: Variation = "strong" if args.strong else "subtle"
    return ImageRequest(
        mode=Mode.VARY,
        images=image,
        prompt=args.prompt,
        variation=variation,
        strength=args.strength,
        count=args.count,
        **common,
    )


def _restyle_request(args: argparse.Namespace, image: tuple[bytes], common: dict) -> ImageRequest:
    if not args.style:
        raise SystemExit("restyle needs --style ID (see `python -m engine styles`)")
    return ImageRequest(mode=Mode.RESTYLE, images=image, prompt=args.prompt, count=args.count, **common)


def _reimagine_request(args: argparse.Namespace, image: tuple[bytes], common: dict) -> ImageRequest:
    return ImageRequest(mode=Mode.REIMAGINE, images=image, count=args.count, **common)


def _remix_request(args: argparse.Namespace, image: tuple[bytes], common: dict) -> ImageRequest:
    return ImageRequest(
        mode=Mode.REMIX, images=image, prompt=args.prompt, structure=args.structure, count=args.count, **common
    )


def _photo_request(args: argparse.Namespace, image: tuple[bytes], common: dict) -> ImageRequest:
    return ImageRequest(
        mode=Mode.PHOTO_PROMPT, images=image, prompt=args.prompt, strength=args.strength, count=args.count, **common
    )


def _upscale_request(args: argparse.Namespace, image: tuple[bytes], common: dict) -> ImageRequest:
    return ImageRequest(mode=Mode.UPSCALE, images=image, count=1, **common)


def _zoom_request(args: argparse.Namespace, image: tuple[bytes], common: dict) -> ImageRequest:
    return ImageRequest(
        mode=Mode.ZOOM, images=image, aspect=args.aspect, zoom=args.zoom, prompt=args.prompt, count=args.count, **common
    )


# The picture commands other than mix, which reads several pictures.
_ONE_PICTURE_REQUESTS = {
    "vary": _vary_request,
    "restyle": _restyle_request,
    "reimagine": _reimagine_request,
    "remix": _remix_request,
    "photo": _photo_request,
    "upscale": _upscale_request,
    "zoom": _zoom_request,
}


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
    """Loads only the language models (not the pictures' ones; with ENGINE_LLM=family, the image model whose text
    encoder it is) and prints the final prompt."""
    from .. import prompts
    from ..models import FAMILY_LLM, load_language_models, with_tiny_kit

    settings = with_tiny_kit(settings)
    if settings.llm == FAMILY_LLM:  # the LLM is the image model's own text encoder: the image model it is
        from ..studio import Studio

        models: Any = Studio(settings).models
    else:
        models = load_language_models(settings)
    if models.llm is None:
        print("note: no LLM configured (ENGINE_LLM); the prompt is only translated", flush=True)
    request = ImageRequest(prompt=args.prompt, beautify=True, translate=not args.no_translate)
    print(prompts.rewrite(models, settings, request, args.seed))
    return 0
