"""GAN upscalers: load a super-resolution model file and run it on image tensors.

`load_upscaler` first asks spandrel (which knows many architectures: ESRGAN/Real-ESRGAN, SwinIR,
HAT, ...). Where spandrel cannot be imported (it imports torchvision, which a CPU-only torch may not
be able to load), a small built-in RRDBNet reads Real-ESRGAN checkpoints ("new arch" key names:
conv_first, body.N.rdbK.convJ, conv_body, conv_up1, conv_up2, conv_hr, conv_last) at scale 4, 2 or 1.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn import functional as F


class _DenseBlock(nn.Module):
    def __init__(self, feat: int, grow: int) -> None:
        super().__init__()
        for j in range(1, 5):
            setattr(self, f"conv{j}", nn.Conv2d(feat + (j - 1) * grow, grow, 3, 1, 1))
        self.conv5 = nn.Conv2d(feat + 4 * grow, feat, 3, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        feats = [x]
        for j in range(1, 5):
            feats.append(F.leaky_relu(getattr(self, f"conv{j}")(torch.cat(feats, 1)), 0.2))
        return self.conv5(torch.cat(feats, 1)) * 0.2 + x


class _RRDB(nn.Module):
    def __init__(self, feat: int, grow: int) -> None:
        super().__init__()
        self.rdb1, self.rdb2, self.rdb3 = (_DenseBlock(feat, grow) for _ in range(3))

    def forward(self, x: Tensor) -> Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNet(nn.Module):
    """ESRGAN generator with Real-ESRGAN's parameter names. Inputs and outputs are 0..1 RGB."""

    def __init__(
        self, scale: int = 4, num_feat: int = 64, num_block: int = 23, num_grow_ch: int = 32, in_ch: int = 3
    ) -> None:
        super().__init__()
        if scale not in (1, 2, 4):
            raise ValueError(f"RRDBNet supports scale 1, 2 or 4, not {scale}")
        self.scale = scale
        self.unshuffle = {4: 1, 2: 2, 1: 4}[scale]  # Real-ESRGAN x2/x1 pixel-unshuffle the input
        self.conv_first = nn.Conv2d(in_ch * self.unshuffle**2, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*(_RRDB(num_feat, num_grow_ch) for _ in range(num_block)))
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, in_ch, 3, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        h, w, m = x.shape[-2], x.shape[-1], self.unshuffle
        if m > 1:  # pixel-unshuffle needs sides divisible by m: reflect-pad, crop the output back
            x = F.pixel_unshuffle(F.pad(x, (0, -w % m, 0, -h % m), mode="reflect"), m)
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        for conv in (self.conv_up1, self.conv_up2):
            feat = F.leaky_relu(conv(F.interpolate(feat, scale_factor=2, mode="nearest")), 0.2)
        return self.conv_last(F.leaky_relu(self.conv_hr(feat), 0.2))[..., : h * self.scale, : w * self.scale]

    @classmethod
    def from_state_dict(cls, sd: dict[str, Tensor]) -> RRDBNet:
        """Infer widths, depth and scale from a Real-ESRGAN state dict, then load it (strict)."""
        in_ch = sd["conv_last.weight"].shape[0]
        unshuffle_sq = sd["conv_first.weight"].shape[1] // in_ch
        scale = {1: 4, 4: 2, 16: 1}[unshuffle_sq]
        num_block = 1 + max(int(m[1]) for k in sd if (m := re.match(r"body\.(\d+)\.rdb1\.", k)))
        net = cls(
            scale=scale,
            num_feat=sd["conv_first.weight"].shape[0],
            num_block=num_block,
            num_grow_ch=sd["body.0.rdb1.conv1.weight"].shape[0],
            in_ch=in_ch,
        )
        net.load_state_dict(sd, strict=True)
        return net


class Upscaler:
    """`upscaler(images)`: [B, 3, H, W] in 0..1 -> [B, 3, H*scale, W*scale] in 0..1 (no grad)."""

    def __init__(self, fn: Callable[[Tensor], Tensor], scale: int, device, dtype: torch.dtype) -> None:
        self._fn, self.scale, self.device, self.dtype = fn, scale, torch.device(device), dtype

    @torch.inference_mode()
    def __call__(self, images: Tensor) -> Tensor:
        out = self._fn(images.to(self.device, self.dtype))
        return out.clamp_(0, 1).to(images.dtype)


def _read_state_dict(path: Path) -> dict[str, Tensor]:
    sd: object  # a checkpoint's top level: a state dict, or one nested under a key
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        sd = load_file(str(path))
    else:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("params_ema", "params-ema", "params", "state_dict"):
        if isinstance(sd, dict) and isinstance(sd.get(key), dict):
            sd = sd[key]
            break
    if not isinstance(sd, dict):
        raise TypeError("not a state dict")
    return {k.removeprefix("module."): v for k, v in sd.items()}


def _import_spandrel():
    try:
        import spandrel
    except (ImportError, RuntimeError):  # e.g. a CUDA torchvision next to a CPU torch
        return None
    return spandrel


def load_upscaler(path: str | Path, device="cpu", dtype: torch.dtype = torch.float32) -> Upscaler:
    """Load a GAN upscaler file (.pth/.pt/.ckpt/.safetensors); ValueError if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"upscaler file not found: {path}")
    spandrel = _import_spandrel()
    if spandrel is not None:
        try:
            desc = spandrel.ModelLoader().load_from_file(path)
        except Exception as e:  # UnsupportedModelError, unpickling errors, bad extension...
            raise ValueError(f"{path}: not a supported upscaler model ({e})") from e
        if not isinstance(desc, spandrel.ImageModelDescriptor):
            raise ValueError(f"{path}: {type(desc.model).__name__} is not a single-image upscaler")
        if (dtype == torch.float16 and not desc.supports_half) or (
            dtype == torch.bfloat16 and not desc.supports_bfloat16
        ):
            dtype = torch.float32  # the architecture is known to break in that precision
        desc.to(device).to(dtype).eval()
        return Upscaler(desc, desc.scale, device, dtype)
    try:
        net = RRDBNet.from_state_dict(_read_state_dict(path))
    except Exception as e:
        raise ValueError(f"{path}: not a Real-ESRGAN (RRDBNet) model ({type(e).__name__}: {e})") from e
    net.to(device=device, dtype=dtype).eval()
    return Upscaler(net, net.scale, device, dtype)
