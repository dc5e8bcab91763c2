"""The IP-Adapter (pictures as prompts) as an attachment: on the shared UNet only for the calls that use it.

An IP-Adapter is three things: a CLIP image encoder (ViT-H/14: 632 M parameters, 60% of SD1.5), image-attention
layers for every cross-attention of the UNet (to_k_ip/to_v_ip: 22 M for SD1.5, 350 M for SDXL) and a small
projection. diffusers' `load_ip_adapter` patches them into the UNet for good, and from then on every call of
every mode must carry image embeddings and pays for the extra attention. Here they are loaded once, taken out
of the UNet again, and attached only around a reimagine / mix / photo-prompt call (`attached`); every other
mode runs the plain UNet, which also leaves fused QKV and torch.compile to the plain attention.

Where the parts live between those calls (ENGINE_IP_ADAPTER_PLACEMENT):
- `device`: on the compute device, always (fastest; the device holds them all the time);
- `offload` (default): not on the compute device. With a GPU they wait in (pinned) host memory and are copied
  to the GPU for the call (about 1.3 GB for ViT-H + SD1.5 layers in fp16: tens of ms on PCIe 4/5); on a CPU-only
  host, where the compute device's memory *is* host memory, they are read from disk on use and dropped after
  ENGINE_IP_ADAPTER_IDLE_S without image-prompt calls.
Embeddings of recent pictures are cached (a reroll of the same photo does not run the encoder again).

Only the engine's worker thread attaches and embeds; a timer thread may drop idle parts (under the lock).
"""

from __future__ import annotations

import gc
import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain
from pathlib import Path, PurePosixPath
from typing import Any

import torch
from PIL import Image

log = logging.getLogger(__name__)

# Paths inside an IP-Adapter folder laid out like the hub's h94/IP-Adapter.
DEFAULT_WEIGHTS = {
    "sd15": "models/ip-adapter_sd15.safetensors",
    "sdxl": "sdxl_models/ip-adapter_sdxl_vit-h.safetensors",  # the ViT-H variant: 632 M encoder, not bigG's 1.8 B
}
DEFAULT_ENCODER = "models/image_encoder"  # ViT-H/14 (sdxl_models/image_encoder is bigG, for ip-adapter_sdxl)
CACHED_EMBEDDINGS = 32


@dataclass
class Parts:
    """What load_ip_adapter put into the UNet, taken out again, plus the image encoder."""

    processors: dict[str, Any]  # every attention processor of the UNet while the adapter is attached
    projection: torch.nn.Module  # the UNet's encoder_hid_proj while attached
    encoder: torch.nn.Module  # CLIPVisionModelWithProjection
    processor: Any  # CLIPImageProcessor: picture -> encoder input
    hidden_states: bool  # "plus" adapters take the encoder's penultimate hidden states, not the pooled embedding

    def modules(self) -> list[torch.nn.Module]:
        layers = [p for p in self.processors.values() if isinstance(p, torch.nn.Module)]
        return [*layers, self.projection, self.encoder]


class IPAdapter:
    def __init__(
        self,
        pipe: Any,
        source: str,
        family: str,
        weight: str = "",
        encoder: str = "",
        placement: str = "offload",
        idle_s: float = 120.0,
    ) -> None:
        self.pipe, self.unet = pipe, pipe.unet
        self.source = source
        self.weight = _inside(weight or DEFAULT_WEIGHTS[family])
        self.encoder_path = encoder or DEFAULT_ENCODER
        self.device, self.dtype = self.unet.device, self.unet.dtype
        if placement == "device":
            self.where = "device"
        else:
            self.where = "host" if self.device.type == "cuda" else "disk"
        self.idle_s = idle_s
        self.loads = 0  # how many times the parts were read from disk
        self.last_load_s = 0.0
        self._lock = threading.RLock()
        self._parts: Parts | None = None
        self._timer: threading.Timer | None = None
        self._embeddings: OrderedDict[str, tuple[torch.Tensor, torch.Tensor]] = OrderedDict()
        if self.where != "disk":
            self._parts = self._load()  # a broken file is a start-up error, not a user's failed request
            if self.where == "host":
                _pin(self._parts.modules())
        else:
            self._check_files()

    # ---- what the modes use ---------------------------------------------------------------------------------
    @contextmanager
    def attached(self, scale: float) -> Iterator[IPAdapter]:
        """The adapter in the shared UNet at `scale` for the length of the block; `embed` works inside it."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            parts = self._parts or self._load()
            self._parts = parts
            saved = _move(parts.modules(), self.device) if self.where == "host" else []
            plain = self.unet.attn_processors
            for layer in parts.processors.values():
                if hasattr(layer, "to_k_ip"):
                    layer.scale = [scale] * len(layer.scale)
            self.unet.set_attn_processor(dict(parts.processors))
            self.unet.encoder_hid_proj = parts.projection
            self.unet.config.encoder_hid_dim_type = "ip_image_proj"
            try:
                yield self
            finally:
                self.unet.set_attn_processor(plain)
                self.unet.encoder_hid_proj = None
                self.unet.config.encoder_hid_dim_type = None
                _restore(saved)
                if self.where == "disk":
                    self._drop_later()

    def embed(self, picture: Image.Image) -> tuple[torch.Tensor, torch.Tensor]:
        """(negative, positive) image embeddings of one picture, each shaped like one row of
        `ip_adapter_image_embeds` ([1, 1, dim], or [1, 1, tokens, dim] for "plus" adapters). Inside `attached`."""
        key = _digest(picture)
        cached = self._embeddings.get(key)
        if cached is not None:
            self._embeddings.move_to_end(key)
            negative, positive = cached
            return negative.to(self.device), positive.to(self.device)
        parts = self._parts
        if parts is None:
            raise RuntimeError("IPAdapter.embed outside attached()")
        encoder_dtype = next(parts.encoder.parameters()).dtype
        pixels = parts.processor(picture.convert("RGB"), return_tensors="pt").pixel_values
        pixels = pixels.to(device=self.device, dtype=encoder_dtype)
        if parts.hidden_states:
            positive = parts.encoder(pixels, output_hidden_states=True).hidden_states[-2]
            negative = parts.encoder(torch.zeros_like(pixels), output_hidden_states=True).hidden_states[-2]
        else:
            positive = parts.encoder(pixels).image_embeds
            negative = torch.zeros_like(positive)
        negative, positive = negative[None], positive[None]
        self._embeddings[key] = (negative.detach().cpu(), positive.detach().cpu())
        while len(self._embeddings) > CACHED_EMBEDDINGS:
            self._embeddings.popitem(last=False)
        return negative, positive

    # ---- what the bench and the tests look at --------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        return self._parts is not None

    def modules(self) -> list[torch.nn.Module]:
        parts = self._parts
        return parts.modules() if parts is not None else []

    def drop(self) -> None:
        """Forget the parts now (they are read from disk again on the next use); `disk` placement only."""
        with self._lock:
            if self.where == "disk":
                self._parts = None
                gc.collect()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    # ---- loading ------------------------------------------------------------------------------------------
    def _load(self) -> Parts:
        from transformers import CLIPImageProcessor, CLIPVisionModelWithProjection

        started = time.perf_counter()
        unet = self.unet
        plain = unet.attn_processors
        folder = str(PurePosixPath(self.weight).parent)
        pipe = self.pipe
        try:
            pipe.load_ip_adapter(
                self.source,
                subfolder="" if folder == "." else folder,
                weight_name=PurePosixPath(self.weight).name,
                image_encoder_folder=None,
            )
            processors = unet.attn_processors
            projection = unet.encoder_hid_proj
        finally:  # out of the UNet again, whatever happened
            unet.set_attn_processor(plain)
            unet.encoder_hid_proj = None
            unet.config.encoder_hid_dim_type = None
        encoder = CLIPVisionModelWithProjection.from_pretrained(
            self.source, subfolder=self.encoder_path, dtype=self.dtype
        )
        # PreTrainedModel.to is a functools.wraps wrapper, which typeshed's _Wrapped does not bind as a method.
        encoder.to("cpu" if self.where == "host" else self.device)  # type: ignore[arg-type]
        encoder.eval()
        if self.where == "host":
            for module in [p for p in processors.values() if isinstance(p, torch.nn.Module)] + [projection]:
                module.to("cpu")
        size = encoder.config.image_size
        from diffusers.models.embeddings import ImageProjection

        hidden = not all(isinstance(layer, ImageProjection) for layer in projection.image_projection_layers)
        self.loads += 1
        self.last_load_s = time.perf_counter() - started
        log.info("IP-Adapter %s loaded in %.2f s (kept on %s)", self.weight, self.last_load_s, self.where)
        return Parts(
            processors, projection, encoder, CLIPImageProcessor(size=size, crop_size=size), hidden_states=hidden
        )

    def _check_files(self) -> None:
        """`disk` placement reads the files later: a missing one must still fail at start-up."""
        root = Path(self.source)
        if not root.is_dir():
            return  # a hub id: resolved (from the local cache when offline) on first use
        for needed in (root / self.weight, root / self.encoder_path / "config.json"):
            if not needed.exists():
                raise FileNotFoundError(f"IP-Adapter file missing: {needed}")

    def _drop_later(self) -> None:
        self._timer = threading.Timer(self.idle_s, self._drop_if_idle, args=(time.monotonic(),))
        self._timer.daemon = True
        self._timer.start()

    def _drop_if_idle(self, scheduled: float) -> None:
        with self._lock:
            if self._parts is not None and time.monotonic() - scheduled >= self.idle_s * 0.99:
                log.info("IP-Adapter unused for %.0f s: dropped from memory", self.idle_s)
                self._parts = None
                gc.collect()


def _inside(weight: str) -> str:
    """A bare file name means models/<name> (the layout of the SD1.5 weights and of earlier settings)."""
    return weight if "/" in weight else f"models/{weight}"


def _digest(picture: Image.Image) -> str:
    data = hashlib.blake2b(digest_size=16)
    data.update(f"{picture.mode}{picture.size}".encode())
    data.update(picture.tobytes())
    return data.hexdigest()


def _tensors(modules: list[torch.nn.Module]) -> Iterator[torch.Tensor]:
    seen: set[int] = set()
    for tensor in chain.from_iterable(chain(m.parameters(), m.buffers()) for m in modules):
        if id(tensor) not in seen:
            seen.add(id(tensor))
            yield tensor


def _pin(modules: list[torch.nn.Module]) -> None:
    """Page-locked host memory: faster, asynchronous copies to the GPU."""
    for tensor in _tensors(modules):
        tensor.data = tensor.data.pin_memory()


def _move(modules: list[torch.nn.Module], device: torch.device) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Copy the tensors to `device`, remembering the host copies (no copy back is ever needed: nothing is
    trained, so `_restore` just points the tensors at their host copies again and the device copies are freed)."""
    saved = []
    for tensor in _tensors(modules):
        saved.append((tensor, tensor.data))
        tensor.data = tensor.data.to(device, non_blocking=True)
    return saved


def _restore(saved: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
    for tensor, host in saved:
        tensor.data = host
