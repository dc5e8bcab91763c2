"""Command line: `python -m engine generate "a red fox" -n 4 --aspect 16:9 --seed 1 --out out/`.

Runs the same engine the bot runs (queue, worker, studio), so what works here works in the chat.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from tqdm import tqdm

from .api import ASPECTS, EngineError, ImageRequest, JobResult, Mode
from .settings import EngineSettings


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("out"), help="folder for the pictures")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--style", default=None, help="style id (see `python -m engine styles`)")
    parser.add_argument("--fast", action="store_true", help="the few-step profile")
    parser.add_argument("--steps", type=int, default=None, help="override the profile's steps")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engine", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    generate = commands.add_parser("generate", help="text to pictures")
    generate.add_argument("prompt")
    generate.add_argument("-n", "--count", type=int, default=4)
    generate.add_argument("--aspect", default="1:1", choices=ASPECTS)
    generate.add_argument("--negative", default="")
    generate.add_argument("--beautify", action="store_true", help="expand the prompt with the LLM first")
    _common(generate)

    commands.add_parser("styles", help="list the styles")
    commands.add_parser("modes", help="list the modes the configured models can serve")
    from .modes import cli

    cli.add_commands(commands, _common)
    return parser


def _request(args: argparse.Namespace) -> ImageRequest:
    if args.command == "generate":
        return ImageRequest(
            mode=Mode.GENERATE,
            prompt=args.prompt,
            style=args.style,
            negative_prompt=args.negative,
            aspect=args.aspect,
            count=args.count,
            seed=args.seed,
            profile="fast" if args.fast else None,
            beautify=args.beautify,
            steps=args.steps,
        )
    from .modes import cli

    return cli.request(args)


async def _run(args: argparse.Namespace, settings: EngineSettings) -> int:
    from .service import Engine

    engine = Engine(settings.model_copy(update={"warmup": False}))
    await engine.start()
    try:
        request = _request(args)
        job_id = await engine.submit("cli", request)
        submitted = engine.status(job_id)
        with tqdm(total=submitted.total_steps if submitted else None, unit="step", file=sys.stderr) as bar:
            async for status in engine.events(job_id):
                if status.total_steps and bar.total != status.total_steps:
                    bar.total = status.total_steps
                bar.n = status.step
                bar.set_postfix_str(status.state.value)
                bar.refresh()
        result = await engine.result(job_id)
    finally:
        await engine.close(drain_s=0)
    _save(result, args.out, args.command)
    return 0


def _save(result: JobResult, out: Path, stem: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for index, picture in enumerate(result.pictures, start=1):
        suffix = "png" if picture.file_format == "png" else "jpg"
        path = out / f"{stem}-{picture.seed}-{index}.{suffix}"
        path.write_bytes(picture.png)
        print(f"{path}  {picture.width}x{picture.height}  seed {picture.seed}")
    print(f"prompt: {result.final_prompt}")


def _modes(settings: EngineSettings) -> int:
    """The family, then one mode a line; the modes it cannot do, with why (the bot hides their buttons)."""
    from .studio import Studio

    studio = Studio(settings.model_copy(update={"warmup": False}))
    spec, available = studio.models.spec, studio.available_modes()
    print(f"family: {spec.name}")
    print("\n".join(sorted(available)))
    for mode in sorted(set(Mode) - available):
        print(f"# not available: {mode}: {spec.gaps.get(mode, 'not configured (see README, Configuration)')}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = EngineSettings()
    if args.command == "styles":
        from .models import with_tiny_kit
        from .styles import load_styles

        settings = with_tiny_kit(settings)
        for style in load_styles(settings.styles_file, settings.lora_dir).values():
            print(f"{style.id:18} {style.name('en'):24} {style.name('ru')}")
        return 0
    if args.command == "modes":
        return _modes(settings)
    if getattr(args, "handler", None):  # commands that do not go through the queue (beautify)
        return args.handler(args, settings)
    try:
        return asyncio.run(_run(args, settings))
    except EngineError as error:
        print(f"error: {error.code.value}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
