"""Parts 1 and 2: the engine against plain diffusers calls on the same weights, in the same process.

The baseline is what anyone would write: `AutoPipelineForText2Image.from_pretrained(folder)`, a fresh
scheduler and one CPU generator per picture for each call, progress bar off, under torch.inference_mode()
as the engine's calls are, everything else default.
The engine loads the same folder through EngineSettings(model=folder), the path production uses. Both
are warmed up first; runs alternate (engine, direct, direct, engine, ...) and the median of the ratios of
neighbouring runs is reported, so load from other processes on the machine hits both sides alike. On a
CPU with one torch thread the ratios use process CPU time (other programs stretch the wall clock, not the
work done); the wall-clock ratios are reported next to them.
"""

from __future__ import annotations

import asyncio
import inspect
import io
import statistics
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from engine.api import ImageRequest
from engine.service import Engine
from engine.settings import EngineSettings
from engine.studio import Studio

PROMPTS = (
    "a red fox in a snowy forest at dawn",
    "a lighthouse on a cliff in a storm",
    "a bowl of ramen, studio photo",
    "an astronaut riding a horse on mars",
)


@dataclass(frozen=True)
class Case:
    """One model at one size: the engine and the direct pipeline are both loaded from `folder`."""

    label: str
    folder: str
    size: int  # the model's native size: the engine's 1:1 pictures have it
    steps: int
    guidance: float


def engine_settings(case: Case, device: str, **overrides: Any) -> EngineSettings:
    return EngineSettings(
        model=case.folder,
        device=device,
        quality_steps=case.steps,
        quality_guidance=case.guidance,
        default_style="none",
        # The bench measures the picture path only: no optional models, no prompt LLM.
        ip_adapter="",
        structure_adapter="",
        upscaler="",
        llm="",
        translator="",
        native_size=case.size,  # the families' own default is 1024: the bench's reduced models draw case.size
        **overrides,
    )


def load_direct(case: Case, dtype: torch.dtype, device: str) -> Any:
    from diffusers import DiffusionPipeline

    import engine.families.processors  # noqa: F401  (a Kandinsky 5 folder's tokenizer names it)

    pipe = DiffusionPipeline.from_pretrained(case.folder, dtype=dtype).to(device)
    pipe.set_progress_bar_config(disable=True)
    if hasattr(pipe, "resolutions"):  # Kandinsky 5 snaps other sizes to its list of real ones
        pipe.resolutions = [(case.size, case.size)]
    return pipe


@torch.inference_mode()  # as the engine runs its calls (about 2% faster on CPU than the pipeline's no_grad)
def direct_call(pipe: Any, case: Case, prompts: list[str], seeds: list[int], **extra: Any) -> list[Image.Image]:
    pipe.scheduler = type(pipe.scheduler).from_config(pipe.scheduler.config)  # a fresh one, as the engine does
    kwargs = dict(
        prompt=prompts,
        negative_prompt=[""] * len(prompts) if case.guidance > 1 else None,
        width=case.size,
        height=case.size,
        num_inference_steps=case.steps,
        guidance_scale=case.guidance,
        true_cfg_scale=case.guidance if case.guidance > 1 else 1.0,
        generator=[torch.Generator("cpu").manual_seed(seed) for seed in seeds],
        **extra,
    )
    accepted = inspect.signature(pipe.__call__).parameters  # klein takes no negative prompt, SD no true CFG
    output = pipe(**{key: value for key, value in kwargs.items() if key in accepted})
    return output.images if hasattr(output, "images") else output.image


def request(case: Case, prompt: str, seed: int, count: int = 1) -> ImageRequest:
    return ImageRequest(prompt=prompt, count=count, seed=seed, style="none", profile="quality", steps=case.steps)


class Stopwatch:
    """Wall-clock and process CPU time at once. With one torch thread, CPU time counts this process's own
    work only: other programs on a shared machine stretch the wall clock, not it."""

    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        _sync(device)
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def read(self) -> dict[str, float]:
        _sync(self.device)
        return {"wall": time.perf_counter() - self.wall, "cpu": time.process_time() - self.cpu}


def basis(device: str) -> str:
    """Which clock the ratios use: CPU time on a CPU with one torch thread (several threads spin while they
    wait for each other, which CPU time would count), else the wall clock."""
    return "cpu" if device == "cpu" and torch.get_num_threads() == 1 else "wall"


async def engine_job(engine: Engine, user: str, req: ImageRequest, device: str = "cpu") -> tuple[dict, Any]:
    watch = Stopwatch(device)
    result = await engine.result(await engine.submit(user, req))
    return watch.read(), result


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _timed(fn, device: str) -> dict[str, float]:
    watch = Stopwatch(device)
    fn()
    return watch.read()


async def _timed_in_thread(fn, device: str) -> dict[str, float]:
    """A direct call as a bot would make it: off the event loop, on a thread of its own (a blocking call on the
    loop would freeze every chat). Same footing as the engine's worker thread."""
    watch = Stopwatch(device)
    await asyncio.to_thread(fn)
    return watch.read()


def _paired(numerators: list[dict], denominators: list[dict], clock: str) -> float:
    """Median of the ratios of runs made next to each other: load that comes and goes on a shared machine
    hits a pair alike, where a ratio of medians would mix calm and busy moments."""
    return statistics.median(n[clock] / d[clock] for n, d in zip(numerators, denominators, strict=True))


def _median(runs: list[dict], clock: str) -> float:
    return statistics.median(run[clock] for run in runs)


async def overhead(case: Case, device: str, reps: int, log) -> dict:
    """One job through the engine (submit -> result: queue, worker thread, PNG + preview encoding) vs one
    direct pipeline call with the same prompt, seed, size, steps and guidance."""
    settings = engine_settings(case, device, warmup=True)
    studio = Studio(settings)
    engine = Engine(settings, studio=studio)
    await engine.start()  # warm-up: one small call
    pipe = load_direct(case, studio.models.dtype, device)
    try:
        direct_call(pipe, case, ["warm-up"], [0])  # the baseline's warm-up call
        req = request(case, PROMPTS[0], seed=1234)
        _, result = await engine_job(engine, "bench", req)  # both once at full size before timing
        image = direct_call(pipe, case, [req.prompt], [req.seed])[0]
        mine = np.asarray(Image.open(io.BytesIO(result.pictures[0].png))).astype(int)
        same_pixels = int(np.abs(mine - np.asarray(image).astype(int)).max())
        engine_runs, direct_runs, studio_s = [], [], []
        for rep in range(reps):
            for side in ("engine", "direct") if rep % 2 == 0 else ("direct", "engine"):
                if side == "engine":
                    times, result = await engine_job(engine, "bench", req, device)
                    engine_runs.append(times)
                    studio_s.append(result.seconds)
                else:
                    direct_runs.append(
                        await _timed_in_thread(lambda: direct_call(pipe, case, [req.prompt], [req.seed]), device)
                    )
            log(
                f"  {case.label} overhead {rep + 1}/{reps}: engine {engine_runs[-1]['wall']:.3f} s "
                f"(cpu {engine_runs[-1]['cpu']:.3f}), direct {direct_runs[-1]['wall']:.3f} s "
                f"(cpu {direct_runs[-1]['cpu']:.3f})"
            )
        clock = basis(device)
        wall_engine = [run["wall"] for run in engine_runs]
        figures = {
            "case": case.label,
            "size": case.size,
            "steps": case.steps,
            "guidance": case.guidance,
            "clock": clock,
            "ratio": _paired(engine_runs, direct_runs, clock),
            "ratio_wall": _paired(engine_runs, direct_runs, "wall"),
            "ratio_cpu": _paired(engine_runs, direct_runs, "cpu"),
            "engine_s": _median(engine_runs, clock),
            "direct_s": _median(direct_runs, clock),
            "engine_wall_s": _median(engine_runs, "wall"),
            "direct_wall_s": _median(direct_runs, "wall"),
            # The engine's own work per job, timed directly (steady where whole runs are noisy): queue and
            # thread hand-over (submit -> result minus the worker's time), and the PNG + preview encoding.
            "bookkeeping_ms": statistics.median(e - s for e, s in zip(wall_engine, studio_s, strict=True)) * 1000,
            "encoding_ms": _encoding_ms(image),
            "studio_s": statistics.median(studio_s),  # inside the worker: pipeline + PNG/preview encoding
            "max_pixel_diff": same_pixels,  # engine PNG vs direct PIL image, same seed: identical settings
            "engine_runs": engine_runs,
            "direct_runs": direct_runs,
            "fast_paths": _describe(studio),
        }
        if device == "cuda":
            latent = _timed(lambda: direct_call(pipe, case, [req.prompt], [req.seed], output_type="latent"), device)
            figures["direct_denoise_only_s"] = latent["wall"]  # without the VAE decode: what limits a call
            figures["peak_gpu_gib"] = torch.cuda.max_memory_allocated() / 2**30
        return figures
    finally:
        await engine.close(drain_s=0)


async def throughput(case: Case, device: str, users: int, jobs: int, repeats: int, log) -> dict:
    """`users` people each asking for `jobs` pictures one after another (the next once the last arrived),
    all at the same time, through the engine with batching on; against the same requests one after
    another as direct calls; and (to show where the gain comes from) through the engine with batching off."""
    batched = engine_settings(case, device, warmup=True, batch_max=max(4, users), max_queue=max(20, users * 2))
    studio = Studio(batched)
    single = batched.model_copy(update={"batch_max": 1, "warmup": False})
    pipe = load_direct(case, studio.models.dtype, device)
    work = [
        (f"user{u}", PROMPTS[u % len(PROMPTS)] + f", variant {j}", 1000 * u + j)
        for j in range(jobs)
        for u in range(users)
    ]

    async def through(engine: Engine) -> tuple[dict, dict]:
        before = dict(engine.stats()["batching"])

        async def person(user: str) -> None:
            for name, prompt, seed in work:
                if name == user:
                    await engine_job(engine, user, request(case, prompt, seed), device)

        watch = Stopwatch(device)
        await asyncio.gather(*(person(f"user{u}") for u in range(users)))
        times = watch.read()
        after = engine.stats()["batching"]
        return times, {key: after[key] - before[key] for key in ("calls", "jobs")} | {"largest": after["largest"]}

    def sequential() -> dict:
        return _timed(lambda: [direct_call(pipe, case, [prompt], [seed]) for _, prompt, seed in work], device)

    engines = {"batched": Engine(batched, studio=studio), "single": Engine(single, studio=studio)}
    for engine in engines.values():
        await engine.start()
    try:
        direct_call(pipe, case, ["warm-up"], [0])
        times: dict[str, list[dict]] = {"batched": [], "single": [], "direct": []}
        batches: dict = {}
        orders = (("batched", "direct", "single"), ("direct", "single", "batched"), ("single", "batched", "direct"))
        for rep in range(repeats):
            for side in orders[rep % len(orders)]:
                if side == "direct":
                    times["direct"].append(sequential())
                else:
                    measured, stats = await through(engines[side])
                    times[side].append(measured)
                    if side == "batched":
                        batches = stats
            log(
                f"  {case.label} throughput {rep + 1}/{repeats}, {len(work)} pictures: "
                + ", ".join(
                    f"{name} {times[side][-1]['wall']:.2f} s (cpu {times[side][-1]['cpu']:.2f})"
                    for side, name in (("batched", "engine"), ("single", "engine unbatched"), ("direct", "direct"))
                )
            )
        clock = basis(device)
        pictures = len(work)
        return {
            "case": case.label,
            "size": case.size,
            "steps": case.steps,
            "users": users,
            "jobs_per_user": jobs,
            "pictures": pictures,
            "clock": clock,
            "ratio": _paired(times["direct"], times["batched"], clock),
            "ratio_wall": _paired(times["direct"], times["batched"], "wall"),
            "ratio_cpu": _paired(times["direct"], times["batched"], "cpu"),
            "unbatched_ratio": _paired(times["direct"], times["single"], clock),
            # The same engine with batching off vs on: the gain of batching alone.
            "batching_gain": _paired(times["single"], times["batched"], clock),
            "engine_pictures_per_s": pictures / _median(times["batched"], clock),
            "engine_unbatched_pictures_per_s": pictures / _median(times["single"], clock),
            "direct_pictures_per_s": pictures / _median(times["direct"], clock),
            "engine_pictures_per_wall_s": pictures / _median(times["batched"], "wall"),
            "direct_pictures_per_wall_s": pictures / _median(times["direct"], "wall"),
            "batches": batches,
            "runs": times,
        }
    finally:
        for engine in engines.values():
            await engine.close(drain_s=0)


def ladder(case: Case, device: str, compile_mode: str, log) -> list[dict]:
    """CUDA: one picture, timed as each fast path is added to a plain pipeline (cumulative)."""
    from types import SimpleNamespace

    from engine.perf import apply_fast_paths

    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    pipe = load_direct(case, dtype, device)
    models = SimpleNamespace(
        text2img=pipe, device=torch.device(device), dtype=dtype, ip_adapter=False, loras={}, fast_adapter=""
    )
    steps = [
        ("bf16/fp16 + SDPA (default)", {}),
        ("+ channels_last", {"channels_last": True}),
        ("+ fused QKV", {"fuse_qkv": True}),
        (f"+ torch.compile ({compile_mode})", {"compile": True, "compile_mode": compile_mode}),
    ]
    rows = []
    for name, switch in steps:
        settings = EngineSettings(model=case.folder, **switch)
        apply_fast_paths(models, settings)
        started = time.perf_counter()
        direct_call(pipe, case, ["warm-up"], [0])  # compiles, when compile is on
        warm_s = time.perf_counter() - started
        runs = [_timed(lambda: direct_call(pipe, case, [PROMPTS[0]], [1]), device)["wall"] for _ in range(3)]
        rows.append({"step": name, "seconds": statistics.median(runs), "first_call_s": warm_s})
        log(f"  ladder {case.label}: {name}: {rows[-1]['seconds']:.3f} s (first call {warm_s:.1f} s)")
    return rows


def _encoding_ms(image: Image.Image) -> float:
    from engine.images import Parameters, encode_document, encode_preview

    params = Parameters("a prompt", "", "none", 1, "bench", 20, 6.0, image.width, image.height, "generate")
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        encode_document(image, params)
        encode_preview(image)
        runs.append(time.perf_counter() - started)
    return statistics.median(runs) * 1000


def _describe(studio: Studio) -> dict:
    from engine.perf import describe

    return describe(studio.models)


def free(device: str) -> None:
    """Between cases: drop the previous models' memory."""
    import gc

    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
