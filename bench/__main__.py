"""`python -m bench [--device cpu|cuda] [--quick] [--json PATH]`: the engine against plain diffusers.

One process, four figures, each against its target, printed as a table and written as JSON:
1. overhead: one job through the engine vs one direct pipeline call with identical settings (ratio);
2. throughput: K users x M jobs at once, the engine with batching vs the same requests as sequential
   direct calls (ratio of pictures per second);
3. parameter memory on the device with every mode loaded vs text2img alone (ratio);
4. bot overhead: update at the fake Bot API -> album sent, minus the engine's time (ms, p50/p95).

CPU (default): a small model with the real SD1.5 architecture (channels / 10), a few minutes in all.
CUDA: the full-size SD1.5 (512²) and SDXL (1024²) architectures with random weights (speed does not
depend on weight values). Models are built once into --cache. Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import os
import platform
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from engine.settings import DEFAULT_CACHE

TARGETS = {
    "overhead": ("≤ 1.03", lambda v: v <= 1.03),
    "throughput": ("≥ 1.5", lambda v: v >= 1.5),
    "memory": ("≤ 1.10", lambda v: v <= 1.10),
    "bot": ("p95 ≤ 50 ms", lambda v: v <= 50),
    "sdxl_h100": ("< 2.5 s", lambda v: v < 2.5),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--quick", action="store_true", help="fewer repeats and sizes (a smoke run)")
    parser.add_argument(
        "--json", type=Path, default=None, help="where to write the figures (default out/bench-DEVICE.json)"
    )
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE / "bench", help="folder for the built models")
    parser.add_argument("--parts", default="1,2,3,4", help="which figures to measure, e.g. 1,2")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default on cpu: 1; a busy shared CPU stalls multi-threaded ops at random, one thread "
        "gives steady ratios and, if anything, understates batching)",
    )
    parser.add_argument(
        "--family",
        choices=("sd15", "sdxl", "flux2_klein", "kandinsky5", "qwen_image"),
        default=None,
        help="cpu: parts 1-3 (not 4, the bot on the tiny kit) on this family's reduced-width architecture; cuda: its "
        "full-size one at 1024² (part 6; without --family a cuda run times sdxl, flux2_klein and kandinsky5)",
    )
    parser.add_argument(
        "--part",
        choices=("fleet", "stores"),
        default=None,
        help="a benchmark of its own instead of the four figures: fleet = GPU workers behind Redis (bench/fleet.py); "
        "stores = a 4K file through each of the fleet's picture stores (bench/stores.py)",
    )
    parser.add_argument("--ladder", action="store_true", help="CUDA: also time each fast path added in turn")
    parser.add_argument("--compile-mode", default="max-autotune-no-cudagraphs", help="for --ladder")
    return parser


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def plan(device: str, quick: bool, cache: Path, parts: set[int], family: str | None = None) -> dict:
    """What each part runs on this device; the models it needs are built here (once per cache)."""
    from functools import cache as once

    from .architectures import ensure, ensure_extras
    from .speed import Case

    speed = bool(parts & {1, 2})
    if device == "cpu" and family not in (None, "sd15"):
        return _family_plan(cache, family, quick, parts)
    if device == "cpu":
        width = 32  # SD1.5's 320 channels / 10
        small = str(ensure(cache, "sd15", width, native=128))
        cases: dict = {"overhead": [Case("SD1.5-shaped/10, 128²", small, 128, 20, 6.0)]}
        # The target is checked at 64²: on a CPU the small UNet's step is bound by per-operation overhead
        # there, as a GPU's is at SD1.5's 512² (bench/RESULTS.md). At 128² a 2-core CPU is already half
        # compute-bound and at 256² fully: those gains are reported too, not checked.
        tiny = str(ensure(cache, "sd15", width, native=64)) if 2 in parts else ""
        throughput = [(Case("SD1.5-shaped/10, 64²", tiny, 64, 20, 6.0), 2 if quick else 4)]
        if not quick and 2 in parts:
            throughput.append((Case("SD1.5-shaped/10, 128²", small, 128, 20, 6.0), 2))
            wider = str(ensure(cache, "sd15", width, native=256))
            throughput.append((Case("SD1.5-shaped/10, 256²", wider, 256, 4, 6.0), 1))
        cases["throughput"] = throughput
        if 3 in parts:
            cases["memory"] = (small, ensure_extras(cache, "sd15", width))
        cases["repeats"] = {"overhead": 3 if quick else 15}
        cases["users"], cases["jobs"] = 4, 2
        return cases
    sd15 = once(lambda: str(ensure(cache, "sd15", None, device="cuda")))
    sdxl = once(lambda: str(ensure(cache, "sdxl", None, device="cuda")))
    steps = 30
    cases = {"repeats": {"overhead": 3 if quick else 5}, "users": 4, "jobs": 2}
    if speed:
        cases["overhead"] = [Case("SDXL 1024²", sdxl(), 1024, steps, 6.0), Case("SD1.5 512²", sd15(), 512, steps, 7.5)]
        cases["throughput"] = [
            (Case("SD1.5 512²", sd15(), 512, steps, 7.5), 1 if quick else 3),
            (Case("SDXL 1024²", sdxl(), 1024, steps, 6.0), 1 if quick else 2),
        ]
    if 3 in parts:
        cases["memory"] = (sdxl(), ensure_extras(cache, "sdxl", None, device="cuda"))
    if 5 in parts:  # --ladder
        cases["ladder"] = Case("SDXL 1024²", sdxl(), 1024, steps, 6.0)
    return cases


# A family on a CPU: steps and guidance of its own profile (Kandinsky 5: 8 of its 50, to finish in minutes).
# Qwen-Image: 8 of its 50 (the Lightning LoRA's count), with true CFG.
CPU_FAMILY_STEPS = {"sdxl": (20, 6.0), "flux2_klein": (4, 1.0), "kandinsky5": (8, 3.5), "qwen_image": (8, 4.0)}


def _family_plan(cache: Path, family: str, quick: bool, parts: set[int]) -> dict:
    """Parts 1-3 on `family`'s reduced-width architecture at 128² (bench/families.py)."""
    from .architectures import ensure, ensure_extras
    from .families import ensure_cpu
    from .speed import Case

    folder = str(ensure(cache, "sdxl", 32, native=128) if family == "sdxl" else ensure_cpu(cache, family))
    steps, guidance = CPU_FAMILY_STEPS[family]
    case = Case(f"{family}-shaped (reduced width), 128²", folder, 128, steps, guidance)
    # SDXL's image modes need their adapters (at the same scale, as for SD1.5); the other families' modes need none.
    extras = ensure_extras(cache, "sdxl", 32) if family == "sdxl" and 3 in parts else {}
    cases: dict = {"overhead": [case], "throughput": [(case, 1 if quick else 2)], "memory": (folder, extras)}
    cases["repeats"] = {"overhead": 3 if quick else 9}
    cases["users"], cases["jobs"] = 4, 2
    return cases


async def run(args: argparse.Namespace) -> dict:
    import torch

    from . import botlatency, speed

    parts = _parts(args)
    report: dict = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "device": args.device,
        "hardware": _hardware(args.device),
        "versions": _versions(),
        "command": " ".join(["python -m bench", *sys.argv[1:]]),
    }
    if args.threads or args.device == "cpu":
        torch.set_num_threads(args.threads or 1)
    started = time.perf_counter()
    log(f"building/loading models in {args.cache}")
    cases = plan(args.device, args.quick, args.cache, parts, args.family)
    report["torch_threads"] = torch.get_num_threads()

    async def part(name: str, coro_or_fn):
        log(f"part {name}")
        try:
            result = await coro_or_fn() if inspect.iscoroutinefunction(coro_or_fn) else coro_or_fn()
        except Exception as error:  # one part failing must not hide the others
            traceback.print_exc()
            result = {"error": repr(error)}
        report[name] = result

    if 1 in parts:

        async def overhead():
            results = []
            for case in cases["overhead"]:
                results.append(await speed.overhead(case, args.device, cases["repeats"]["overhead"], log))
                speed.free(args.device)
            return results

        await part("overhead", overhead)
    if 2 in parts:

        async def throughput():
            results = []
            for case, reps in cases["throughput"]:
                results.append(await speed.throughput(case, args.device, cases["users"], cases["jobs"], reps, log))
                speed.free(args.device)
            return results

        await part("throughput", throughput)
    if 3 in parts:

        def mem():
            return _memory(cases["memory"], args.device, args.cache)

        await part("memory", mem)
    if 4 in parts:

        async def bot():
            from engine.tiny import ensure

            ensure(args.cache / "tiny-kit")
            return await botlatency.measure(args.cache, trials=8 if args.quick else 20, steps=1, log=log)

        await part("bot", bot)
    if 5 in parts:
        await part("ladder", lambda: speed.ladder(cases["ladder"], "cuda", args.compile_mode, log))
    if 6 in parts:
        await part("families", lambda: _families_on_gpu(args.family, args.quick))
    report["seconds"] = time.perf_counter() - started
    return report


def _parts(args: argparse.Namespace) -> set[int]:
    """The parts asked for, as this device and --family run them."""
    parts = {int(p) for p in args.parts.split(",") if p.strip()}
    if args.family and args.device == "cpu":
        parts &= {1, 2, 3}  # the family's own figures; part 4 times the bot on the SD tiny kit whatever the family
    if args.ladder and args.device == "cuda":
        parts.add(5)
    if args.device == "cuda":
        parts = {6} if args.family else parts | {6}
    return parts


def _families_on_gpu(family: str | None, quick: bool) -> list[dict]:
    from . import families, speed

    results = []
    for name in [family] if family else list(families.FAMILIES):
        try:
            results.append(families.gpu(name, log, repeats=2 if quick else 3))
        except Exception as error:  # one family failing (out of memory...) must not hide the others
            traceback.print_exc()
            results.append({"family": name, "error": repr(error)})
        speed.free("cuda")
    return results


def _memory(spec: tuple[str, dict], device: str, cache: Path) -> dict:
    import torch
    from diffusers import DiffusionPipeline

    from engine.settings import EngineSettings
    from engine.studio import Studio

    from .memory import measure, published_sizes

    folder, extras = spec
    studio = Studio(EngineSettings(model=folder, device=device, cache_dir=cache, warmup=False, **extras))
    plain = DiffusionPipeline.from_pretrained(folder, dtype=studio.models.dtype)
    figures = measure(studio.models, plain)
    figures["modes"] = sorted(mode.value for mode in studio.available_modes())
    figures["model"] = Path(folder).name
    figures["family"] = studio.models.family
    if studio.models.family in ("sd15", "sdxl"):
        figures["published_sizes"] = [published_sizes(family) for family in ("sd15", "sdxl")]
    del studio, plain
    if device == "cuda":
        torch.cuda.empty_cache()
    return figures


def _hardware(device: str) -> str:
    import torch

    if device == "cuda" and torch.cuda.is_available():
        return f"{torch.cuda.get_device_name()} ({torch.cuda.get_device_properties(0).total_memory / 2**30:.0f} GiB)"
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores"


def _versions() -> dict:
    import diffusers
    import torch
    import transformers

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "transformers": transformers.__version__,
        "cuda": torch.version.cuda or "",
    }


def table(report: dict) -> str:
    rows: list[tuple[str, str, str, str]] = []

    def verdict(key: str, value: float | None) -> tuple[str, str]:
        target, check = TARGETS[key]
        if value is None:
            return target, "n/a"
        return target, "PASS" if check(value) else "FAIL"

    for i, item in enumerate(_items(report, "overhead")):
        label = f"1 overhead, 1 job: engine/direct ({item['case']}, {item['steps']} steps)"
        value = (
            f"{item['ratio']:.3f} ({item['clock']} time {item['engine_s']:.3f} / {item['direct_s']:.3f} s; "
            f"wall-clock ratio {item['ratio_wall']:.3f})"
        )
        target, result = verdict("overhead", item["ratio"]) if i == 0 else ("(info)", "")
        rows.append((label, value, target, result))
        own = item.get("bookkeeping_ms", 0) + item.get("encoding_ms", 0)
        rows.append(
            (
                "  the engine's own work per job (queue + thread, PNG + preview)",
                f"{own:.1f} ms = {own / 10 / item['direct_wall_s']:.2f}% of the call "
                f"({item.get('bookkeeping_ms', 0):.1f} + {item.get('encoding_ms', 0):.1f} ms)",
                "(info)",
                "",
            )
        )
        if "SDXL" in item["case"] and report["device"] == "cuda":
            rows.append(
                (
                    "  SDXL 1024², 30 steps, batch 1 (engine)",
                    f"{item['engine_wall_s']:.2f} s (direct {item['direct_wall_s']:.2f} s)",
                    *verdict("sdxl_h100", item["engine_wall_s"]),
                )
            )
    for i, item in enumerate(_items(report, "throughput")):
        label = f"2 throughput, {item['users']} users x {item['jobs_per_user']}: engine/direct ({item['case']})"
        value = (
            f"{item['ratio']:.2f}x ({item['clock']}: {item['engine_pictures_per_s']:.2f} vs "
            f"{item['direct_pictures_per_s']:.2f} pic/s; wall-clock {item['ratio_wall']:.2f}x; "
            f"batching alone {item.get('batching_gain', 0):.2f}x; {item['batches'].get('calls', '?')} calls)"
        )
        target, result = verdict("throughput", item["ratio"]) if i == 0 else ("(info)", "")
        rows.append((label, value, target, result))
    mem = report.get("memory")
    if isinstance(mem, dict) and "ratio" in mem:
        rows.append(
            (
                f"3 memory on the device: every mode loaded / text2img ({mem['model']}), between image prompts",
                f"{mem['ratio']:.3f} ({mem['engine_bytes'] / 2**20:.0f} / {mem['text2img_bytes'] / 2**20:.0f} MiB; "
                f"IP-Adapter offloaded: {mem.get('ip_adapter_placement', 'none')})",
                *verdict("memory", mem["ratio"]),
            )
        )
        if "ratio_during_image_prompt" in mem:
            attach = mem["ip_adapter_attach_ms"]
            rows.append(
                (
                    "  while an image-prompt call runs (IP-Adapter attached; = ENGINE_IP_ADAPTER_PLACEMENT=device)",
                    f"{mem['ratio_during_image_prompt']:.3f}; attaching takes {attach['first']:.0f} ms "
                    f"(first), {attach['again']:.0f} ms (again)",
                    "(info)",
                    "",
                )
            )
        rows.append(
            (
                "  mode pipelines only (no IP-Adapter, GAN, LLM)",
                f"{mem['pipelines_ratio']:.3f} (siblings add {mem['siblings_extra_bytes']} bytes)",
                *verdict("memory", mem["pipelines_ratio"]),
            )
        )
        for item in mem.get("published_sizes", []):
            rows.append(
                (
                    f"  at published sizes ({item['family']}: parameter counts)",
                    f"{item['ratio']:.3f} between image prompts; {item['ratio_during_image_prompt']:.3f} during one; "
                    f"mode pipelines only {item['pipelines_ratio']:.3f}",
                    "(info)",
                    "",
                )
            )
    bot = report.get("bot")
    if isinstance(bot, dict) and "overhead_ms_p95" in bot:
        rows.append(
            (
                "4 bot overhead: tap -> album minus engine (p50/p95)",
                f"{bot['overhead_ms_p50']:.0f} / {bot['overhead_ms_p95']:.0f} ms "
                f"(engine {bot['engine_ms_p50']:.0f} ms)",
                *verdict("bot", bot["overhead_ms_p95"]),
            )
        )
        rows.append(
            (
                "  first answer: prompt -> style screen (p50/p95)",
                f"{bot['first_answer_ms_p50']:.0f} / {bot['first_answer_ms_p95']:.0f} ms",
                "(info)",
                "",
            )
        )
    rows += _family_rows(report.get("families"))
    for key in ("overhead", "throughput", "memory", "bot", "ladder"):
        value = report.get(key)
        if isinstance(value, dict) and ("error" in value or "skipped" in value):
            rows.append((f"{key}", value.get("error") or f"skipped: {value['skipped']}", "", "n/a"))
    for item in report.get("ladder") or []:
        if isinstance(item, dict) and "step" in item:
            rows.append((f"  ladder: {item['step']}", f"{item['seconds']:.3f} s", "(info)", ""))
    widths = [max(len(row[i]) for row in [("figure", "measured", "target", "result"), *rows]) for i in range(4)]
    lines = [
        f"Easel engine vs plain diffusers — {report['device']}: {report['hardware']}; "
        f"torch {report['versions']['torch']}, diffusers {report['versions']['diffusers']}; {report['date']}",
    ]
    for row in [("figure", "measured", "target", "result"), tuple("-" * w for w in widths), *rows]:
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    lines.append(f"total {report['seconds']:.0f} s")
    return "\n".join(lines)


def _family_rows(items: list | None) -> list[tuple[str, str, str, str]]:
    """Part 6 (CUDA): each family's full-size architecture at 1024²."""
    rows = []
    for item in items or []:
        if "error" in item:
            rows.append((f"6 {item['family']} 1024²", item["error"], "", "n/a"))
            continue
        target = item.get("target_s")
        seconds = item["seconds_per_picture_x1"]
        rows.append((
            f"6 {item['family']} 1024², {item['steps']} steps: s per picture x1 / x4",
            f"{seconds:.3f} / {item['seconds_per_picture_x4']:.3f} s; peak {item['peak_gib_x4']:.1f} GiB; "
            f"{item['tflop_per_picture']:.0f} TFLOP (published {item['published_tflop']}), "
            f"floor {item['floor_s']:.3f} s, "
            f"x{item['floor_ratio_x1']:.2f} of it",
            f"≤ {target} s" if target else "(info)",
            ("PASS" if seconds <= target else "FAIL") if target else "",
        ))  # fmt: skip
    return rows


def _items(report: dict, key: str) -> list[dict]:
    value = report.get(key)
    return [item for item in value if "ratio" in item] if isinstance(value, list) else []


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            print("--device cuda: no CUDA device visible to torch", file=sys.stderr)
            return 2
    from engine.models import quiet_libraries

    quiet_libraries()
    import logging

    logging.basicConfig(level=logging.WARNING)
    if args.part:
        return _part(args)
    report = asyncio.run(run(args))
    text = table(report)
    print(text)
    path = args.json or Path("out") / f"bench-{args.device}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"figures written to {path}")
    return 0


def _part(args: argparse.Namespace) -> int:
    """A benchmark of its own (--part): bench/fleet.py or bench/stores.py, its figures to out/bench-<part>.json."""
    from . import fleet, stores

    started = time.perf_counter()
    if args.part == "fleet":
        report, text = asyncio.run(fleet.measure(args.cache, args.quick, log)), fleet.table
    else:
        report, text = asyncio.run(stores.measure(log)), stores.table
    report.update(
        date=datetime.now(UTC).isoformat(timespec="seconds"),
        hardware=_hardware("cpu"),
        command=" ".join(["python -m bench", *sys.argv[1:]]),
        seconds=round(time.perf_counter() - started),
    )
    print(text(report))
    path = args.json or Path("out") / f"bench-{args.part}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"figures written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
