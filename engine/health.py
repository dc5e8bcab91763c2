"""What an operator asks of a running engine beyond its counters: how much device memory it holds.

torch is imported inside the function, so a client (the bot's /stats) may import this module without it.
"""

from __future__ import annotations

import resource
import sys

MB = 1024 * 1024


def device_memory() -> dict[str, object]:
    """Memory of the device the engine computes on, in MB.

    CUDA (once the engine has used it): {"device", "allocated_mb" (tensors), "reserved_mb" (PyTorch's cache),
    "used_mb" and "total_mb" (the whole GPU, other processes included), "peak_mb" (allocated, since start)}.
    CPU: {"device": "cpu", "rss_mb", "peak_mb"} of this process.
    """
    torch = sys.modules.get("torch")  # not imported = the engine never ran a model here
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        index = torch.cuda.current_device()
        free, total = torch.cuda.mem_get_info(index)
        return {
            "device": f"cuda:{index} {torch.cuda.get_device_name(index)}",
            "allocated_mb": round(torch.cuda.memory_allocated(index) / MB),
            "reserved_mb": round(torch.cuda.memory_reserved(index) / MB),
            "used_mb": round((total - free) / MB),
            "total_mb": round(total / MB),
            "peak_mb": round(torch.cuda.max_memory_allocated(index) / MB),
        }
    return {"device": "cpu", "rss_mb": round(_rss_bytes() / MB), "peak_mb": round(_peak_rss_bytes() / MB)}


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as statm:  # Linux: pages in the second field
            return int(statm.read().split()[1]) * resource.getpagesize()
    except OSError:
        return _peak_rss_bytes()


def _peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # macOS reports bytes, Linux kilobytes
