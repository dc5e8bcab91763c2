"""Why batching helps at one size and not another: each part of a picture timed at batch 1 and batch 4.

    HF_HUB_OFFLINE=1 python bench/profile_batch.py [--sizes 64,128,256] [--width 32] [--steps 20]

Uses the benchmark's SD1.5-shaped models (built into the benchmark's cache if missing), one torch thread and
process CPU time (steady on a shared machine). Per size: one UNet step with guidance (2 or 8 rows), the VAE
decode and the text encoder, and what a 20-step picture costs alone vs in a batch of four.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.architectures import ensure
from engine.settings import DEFAULT_CACHE


def cpu_ms(fn, reps: int = 5) -> float:
    fn()
    runs = []
    for _ in range(reps):
        started = time.process_time()
        fn()
        runs.append(time.process_time() - started)
    return statistics.median(runs) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="64,128,256")
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE / "bench")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from diffusers import AutoPipelineForText2Image

    columns = ["size", "UNet step b1 / b4 (ms)", "gain", "VAE decode b1 / b4 (ms)", "gain", "text b1 / b4 (ms)"]
    columns += ["picture alone / in 4 (ms)", "gain"]
    print("| " + " | ".join(columns) + " |")
    print("|---|---|---|---|---|---|---|---|")
    for size in (int(s) for s in args.sizes.split(",")):
        folder = ensure(args.cache, "sd15", args.width, native=size)
        pipe = AutoPipelineForText2Image.from_pretrained(folder, dtype=torch.float32)
        unet, vae, text = pipe.unet, pipe.vae, pipe.text_encoder
        latent = size // 8
        ids = torch.randint(0, 500, (8, 77))
        cost = {}
        with torch.inference_mode():
            for batch in (1, 4):
                sample = torch.randn(2 * batch, 4, latent, latent)
                context = torch.randn(2 * batch, 77, unet.config.cross_attention_dim)
                latents = torch.randn(batch, 4, latent, latent)
                cost[batch] = (
                    cpu_ms(lambda: unet(sample, 500, encoder_hidden_states=context)),  # noqa: B023
                    cpu_ms(lambda: vae.decode(latents), 3),  # noqa: B023
                    cpu_ms(lambda: text(ids[: 2 * batch])),  # noqa: B023
                )
        (u1, v1, t1), (u4, v4, t4) = cost[1], cost[4]
        alone = args.steps * u1 + v1 + t1
        shared = (args.steps * u4 + v4 + t4) / 4
        print(
            f"| {size}² | {u1:.0f} / {u4:.0f} | {4 * u1 / u4:.2f}x | {v1:.0f} / {v4:.0f} | {4 * v1 / v4:.2f}x "
            f"| {t1:.0f} / {t4:.0f} | {alone:.0f} / {shared:.0f} | {alone / shared:.2f}x |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
