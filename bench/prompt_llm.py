"""`python -m bench.prompt_llm [--repeats N]`: ✨ with a second model (ENGINE_LLM=<folder>) against the family's own
text encoder (ENGINE_LLM=family), on the families' tiny kits, and the same question at the real sizes.

Per tiny kit and choice: the bytes the prompt LLM adds on the device (bench/memory.py's census: tensors beyond the
pipelines', each counted once) and the seconds of one ✨ (the median of N beautify calls, one seed each) with the
tokens it generated. Tiny weights say whether a second model is loaded and that the plumbing works, not real speed;
so the real architectures are also built on the meta device (no memory, no weights): parameters, bf16 bytes, and the
bytes one generated token reads, whose time at the H200's 4.8 TB/s is the floor of a token at batch 1.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch

from engine.settings import DEFAULT_CACHE

KITS = ("tiny-flux2", "tiny-qwen-image", "tiny-kandinsky5")
H200_BYTES_PER_S = 4.8e12
# The real text encoders and the LLM the README suggests, from their published config.json files.
REAL = {
    "Qwen2.5-1.5B-Instruct (ENGINE_LLM in the README)": (
        "Qwen2Config",
        dict(vocab_size=151936, hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
             num_attention_heads=12, num_key_value_heads=2, tie_word_embeddings=True),
    ),
    "Qwen3-4B (FLUX.2 klein 4B's text encoder)": (
        "Qwen3Config",
        dict(vocab_size=151936, hidden_size=2560, intermediate_size=9728, num_hidden_layers=36,
             num_attention_heads=32, num_key_value_heads=8, head_dim=128, tie_word_embeddings=True),
    ),
    "Qwen2.5-VL-7B-Instruct, language part (Qwen-Image's and Kandinsky 5's text encoder)": (
        "Qwen2Config",
        dict(vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
             num_attention_heads=28, num_key_value_heads=4, tie_word_embeddings=False),
    ),
}  # fmt: skip


def tiny(kit: str, llm: str, cache: Path, repeats: int) -> dict[str, Any]:
    from bench.memory import census
    from engine import prompts
    from engine.settings import EngineSettings
    from engine.studio import Studio

    settings = EngineSettings(model=kit, llm=llm, cache_dir=cache, upscaler="none", warmup=False)
    models = Studio(settings).models
    added = next(group["bytes"] for group in census(models) if group["part"].startswith("prompt LLM"))
    model = models.llm[0]
    seconds, tokens = [], []
    generate = model.generate

    def counted(**inputs: Any) -> Any:
        output = generate(**inputs)
        tokens.append(output.shape[1] - inputs["input_ids"].shape[1])  # generated, not prompt, tokens
        return output

    model.generate = counted  # on this instance only, for this measurement
    for seed in range(repeats):
        started = time.perf_counter()
        prompts.chat(models.llm, settings.beautify_system_prompt, "a red fox in the snow", seed, 60.0)
        seconds.append(time.perf_counter() - started)
    del model.generate
    return {
        "kit": kit,
        "llm": "family" if llm == "family" else "the kit's tiny Qwen2 chat LLM",
        "llm_class": type(model).__name__,
        "llm_layers": model.config.get_text_config().num_hidden_layers,
        "llm_is_the_text_encoder": model is models.text2img.text_encoder,
        "added_bytes": added,
        "seconds_per_beautify": statistics.median(seconds),
        "ms_per_token": 1000 * sum(seconds) / max(1, sum(tokens)),
        "tokens_per_reply": statistics.median(tokens),
    }


def real_sizes() -> list[dict[str, Any]]:
    import transformers

    rows = []
    for name, (config_class, fields) in REAL.items():
        config = getattr(transformers, config_class)(**fields)
        with torch.device("meta"):
            model = transformers.AutoModelForCausalLM.from_config(config)
        parameters = sum(p.numel() for p in model.parameters())
        # One generated token reads every weight once except the input embedding table (one row of it); a tied
        # table is read whole as the output head.
        embedding = model.get_input_embeddings().weight.numel()
        read = parameters - (0 if fields["tie_word_embeddings"] else embedding)
        rows.append({
            "model": name,
            "parameters": parameters,
            "bf16_gb": parameters * 2 / 1e9,
            "bytes_read_per_token_gb": read * 2 / 1e9,
            "h200_floor_ms_per_token": read * 2 / H200_BYTES_PER_S * 1000,
        })  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.prompt_llm", description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", default="")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where the tiny kits are (built if not)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from engine.tiny import ensure

    kit_llm = str(ensure(args.cache / "tiny-kit") / "llm")
    figures = {
        "tiny": [tiny(kit, llm, args.cache, args.repeats) for kit in KITS for llm in (kit_llm, "family")],
        "real": real_sizes(),
    }
    for row in figures["tiny"]:
        print(
            f"{row['kit']:16} {row['llm']:30} {row['llm_class']:35} {row['llm_layers']:2} layers, "
            f"adds {row['added_bytes'] / 1e6:7.3f} MB  "
            f"✨ {row['seconds_per_beautify'] * 1000:7.1f} ms ({row['tokens_per_reply']:.0f} tokens, "
            f"{row['ms_per_token']:.2f} ms each)"
        )
    for row in figures["real"]:
        print(
            f"{row['model']}: {row['parameters'] / 1e9:.2f} B parameters, {row['bf16_gb']:.2f} GB bf16, "
            f"{row['bytes_read_per_token_gb']:.2f} GB read per token = {row['h200_floor_ms_per_token']:.2f} ms on H200"
        )
    if args.json:
        with open(args.json, "w") as out:
            json.dump(figures, out, indent=2)


if __name__ == "__main__":
    main()
