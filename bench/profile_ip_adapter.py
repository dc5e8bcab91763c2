"""What a text-to-image call paid while the IP-Adapter stayed in the UNet, and what attaching it per call costs.

    HF_HUB_OFFLINE=1 python bench/profile_ip_adapter.py [--size 128] [--width 32] [--steps 20] [--device cpu]

Uses the benchmark's SD1.5-shaped model and its IP-Adapter (built into the benchmark's cache if missing). Three
ways to draw the same picture, alternated, the median of each: the plain UNet (what the engine runs now for
every mode without a picture prompt); the IP-Adapter left in the UNet at scale 0 with zero image embeddings
(what it ran before: the image attention is still computed); and an image-prompt call (attach, encode, draw,
detach) for comparison. On CPU one torch thread and process CPU time; on CUDA the wall clock.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.architectures import ensure, ensure_extras
from engine.settings import DEFAULT_CACHE, EngineSettings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    cuda = args.device == "cuda"
    if not cuda:
        torch.set_num_threads(1)
    from PIL import Image

    from engine.studio import Studio

    cache = DEFAULT_CACHE / "bench"
    folder = ensure(cache, "sd15", args.width, args.size, device=args.device)
    extras = ensure_extras(cache, "sd15", args.width, device=args.device)
    extras.pop("upscaler"), extras.pop("structure_adapter")
    settings = EngineSettings(model=str(folder), device=args.device, warmup=False, ip_adapter_placement="device")
    studio = Studio(settings.model_copy(update=extras))
    models = studio.models
    pipe, adapter = models.text2img, models.ip_adapter
    photo = Image.new("RGB", (256, 256), (200, 120, 40))
    dim = adapter.modules()[-2].image_projection_layers[0].image_embeds.in_features

    def draw(**extra):
        pipe(
            "a red fox",
            negative_prompt="",
            width=args.size,
            height=args.size,
            num_inference_steps=args.steps,
            generator=torch.Generator("cpu").manual_seed(1),
            **extra,
        )

    def plain():
        draw()

    def silent_adapter():
        with adapter.attached(0.0):
            draw(ip_adapter_image_embeds=[torch.zeros(2, 1, dim, device=models.device, dtype=models.dtype)])

    def image_prompt():
        adapter._embeddings.clear()  # encode every time, as for a new photo
        with adapter.attached(1.0):
            negative, positive = adapter.embed(photo)
            draw(ip_adapter_image_embeds=[torch.cat([negative, positive]).to(models.device, models.dtype)])

    def clock() -> float:
        if cuda:
            torch.cuda.synchronize()
            return time.perf_counter()
        return time.process_time()

    cases = {"plain UNet": plain, "IP-Adapter left in, scale 0": silent_adapter, "image prompt": image_prompt}
    runs: dict[str, list[float]] = {name: [] for name in cases}
    with torch.inference_mode():
        for fn in cases.values():
            fn()
        for _ in range(args.repeats):
            for name, fn in cases.items():
                started = clock()
                fn()
                runs[name].append(clock() - started)
    base = statistics.median(runs["plain UNet"])
    print(f"{args.size}², {args.steps} steps, width {args.width}, {args.device}")
    for name, values in runs.items():
        median = statistics.median(values)
        print(f"  {name:<30} {median * 1000:8.1f} ms  {median / base:5.3f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
