"""GPU fast paths (fp16/bf16, SDPA, channels_last, torch.compile, fused QKV), each switchable in settings."""

from __future__ import annotations

from .settings import EngineSettings


def apply_fast_paths(models, settings: EngineSettings) -> None:
    """Called once after loading, before warm-up. Every option is opt-in or automatic where it is safe."""
