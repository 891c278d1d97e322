"""Memory figures of a computation: bytes saved for backward, CUDA peak, process peak RSS.

`saved_tensor_bytes` is the deterministic one, and the one the memory-scaling tests use: it
counts what autograd keeps alive between the forward and the backward pass, independently of
the allocator, the device and whatever else the process holds. Every tensor that autograd (or a
custom `torch.autograd.Function` through ``ctx.save_for_backward``) saves while the measured
code runs passes through the pack hook of `torch.autograd.graph.saved_tensors_hooks`; the meter
charges each distinct *storage* once, with its full size:

* the same tensor saved twice (``w * w`` saves ``w`` for both operands) costs once;
* a view of a storage already charged (``ys[-1]``, ``y.view(...)``) costs nothing more;
* a view saved first charges the whole storage it keeps alive, not only its own elements.

Storages are identified by (device, ``untyped_storage().data_ptr()``), or by the storage object
itself where there is no data pointer (meta tensors). While measuring, the meter
keeps a reference to every storage it charged, so an address cannot be freed and reused by
another storage within one measurement; the references are dropped when it ends. The pack hook
keeps the data of each saved tensor exactly as autograd would (a detached alias of the same
storage), so measuring changes neither the memory held nor the gradients.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import torch

__all__ = ["SavedBytes", "SavedTensorsMeter", "saved_tensor_bytes", "CudaPeak", "cuda_peak_bytes",
           "peak_rss_bytes"]


@dataclass
class SavedBytes:
    """What a measured computation saved for backward.

    bytes: total size of the distinct storages saved (each counted once).
    n_saved: number of tensors autograd saved (pack-hook calls), duplicates and views included.
    n_storages: number of distinct storages among them (excluded ones not counted).
    by_device: `bytes` split by device (``"cpu"``, ``"cuda:0"``, ...).
    result: what the measured callable returned (``saved_tensor_bytes`` only), e.g. the loss to
        call ``backward()`` on afterwards.
    """

    bytes: int = 0
    n_saved: int = 0
    n_storages: int = 0
    by_device: dict[str, int] = field(default_factory=dict)
    result: Any = None


def _storage_key(t: torch.Tensor) -> tuple[tuple[str, int], int, Any]:
    """(device key, nbytes, storage object or None) of the storage behind `t`."""
    dev = (t.device.type, -1 if t.device.index is None else t.device.index)
    try:
        st = t.untyped_storage()
        ptr = st.data_ptr()
        # No data pointer (meta tensors, empty storages): the StorageImpl's address identifies it.
        return (dev, ptr if ptr != 0 else -st._cdata), st.nbytes(), st
    except (RuntimeError, NotImplementedError, TypeError):
        # Tensors without an ordinary storage (sparse, nested, some subclasses): charge their own
        # elements and identify them by object identity.
        return (dev, -id(t)), t.numel() * t.element_size(), None


def _device_name(dev: tuple[str, int]) -> str:
    return dev[0] if dev[1] < 0 else f"{dev[0]}:{dev[1]}"


class SavedTensorsMeter:
    """Context manager counting the bytes saved for backward by the code run inside it.

        with SavedTensorsMeter() as meter:
            loss = odeint(func, y0, t).pow(2).sum()
        meter.bytes, meter.n_saved, meter.n_storages

    exclude: tensors whose storages are never charged, e.g. parameters or inputs that exist
        whatever the graph keeps (they are still counted in `n_saved`).
    The hooks apply to the current thread; tensors saved by a nested meter are charged to it only.
    """

    def __init__(self, exclude: Iterable[torch.Tensor] = ()):
        self._excluded = {_storage_key(t)[0] for t in exclude}
        self._seen: dict[tuple[tuple[str, int], int], int] = {}
        self._alive: list[Any] = []
        self._hooks: torch.autograd.graph.saved_tensors_hooks | None = None
        self.n_saved = 0

    def _pack(self, t: torch.Tensor) -> torch.Tensor:
        self.n_saved += 1
        key, nbytes, storage = _storage_key(t)
        if key not in self._excluded:
            # A storage can only grow while alive (resize_), so keep the largest size seen.
            if nbytes > self._seen.get(key, -1):
                self._seen[key] = nbytes
            if storage is not None:
                self._alive.append(storage)
        # Keep a detached alias, not `t` itself: for a saved *output* (tanh, exp, ...) `t` owns the
        # very grad_fn that would hold it, a reference cycle through C++ that the garbage
        # collector cannot see, so the graph would never be freed. Autograd re-attaches the
        # autograd metadata on unpacking, so higher-order gradients are unaffected.
        return t.detach()

    @staticmethod
    def _unpack(t: torch.Tensor) -> torch.Tensor:
        return t

    def __enter__(self) -> "SavedTensorsMeter":
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self._hooks is not None
        self._hooks.__exit__(*exc)
        self._hooks = None
        self._alive = []  # the graph keeps what it needs; the meter holds nothing after the block

    @property
    def bytes(self) -> int:
        """Total bytes of the distinct storages saved so far."""
        return sum(self._seen.values())

    @property
    def n_storages(self) -> int:
        return len(self._seen)

    @property
    def by_device(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for (dev, _), n in self._seen.items():
            name = _device_name(dev)
            out[name] = out.get(name, 0) + n
        return out

    def summary(self, result: Any = None) -> SavedBytes:
        return SavedBytes(bytes=self.bytes, n_saved=self.n_saved, n_storages=self.n_storages,
                          by_device=self.by_device, result=result)


def saved_tensor_bytes(fn: Callable[[], Any], exclude: Iterable[torch.Tensor] = ()) -> SavedBytes:
    """Run ``fn()`` (which builds a graph, e.g. a forward solve and a loss) and return the bytes
    of the tensors it saved for backward, each storage counted once; ``.result`` is fn's return
    value. See `SavedTensorsMeter` for `exclude`."""
    with SavedTensorsMeter(exclude=exclude) as meter:
        result = fn()
    return meter.summary(result)


# --------------------------------------------------------------------------- CUDA peak
@dataclass
class CudaPeak:
    """Peak CUDA memory while a callable ran.

    peak_bytes: torch.cuda.max_memory_allocated during the call (absolute, allocator's view).
    baseline_bytes: memory allocated on the device when the call started.
    result: the callable's return value.
    """

    peak_bytes: int
    baseline_bytes: int
    result: Any = None

    @property
    def increment_bytes(self) -> int:
        """Peak above what was already allocated before the call."""
        return self.peak_bytes - self.baseline_bytes


def cuda_peak_bytes(fn: Callable[[], Any], device: torch.device | str | int | None = None) -> CudaPeak:
    """Run ``fn()`` and report the peak CUDA memory allocated on `device` (default: current)."""
    if not torch.cuda.is_available():
        raise RuntimeError("cuda_peak_bytes needs a CUDA device, but torch.cuda.is_available() is False "
                           "(use saved_tensor_bytes for a device-independent measure)")
    dev = torch.device("cuda", torch.cuda.current_device()) if device is None else torch.device(device)
    if dev.type != "cuda":
        raise ValueError(f"cuda_peak_bytes measures a CUDA device, got {dev}")
    torch.cuda.synchronize(dev)
    torch.cuda.reset_peak_memory_stats(dev)
    baseline = torch.cuda.memory_allocated(dev)
    result = fn()
    torch.cuda.synchronize(dev)
    return CudaPeak(peak_bytes=torch.cuda.max_memory_allocated(dev), baseline_bytes=baseline, result=result)


# --------------------------------------------------------------------------- process peak RSS
_PEAK_RSS_SEEN = 0


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far, in bytes.

    The largest of: VmHWM of /proc/self/status (Linux), resource.getrusage's ru_maxrss (KiB on
    Linux and BSD, bytes on macOS), and every value this function returned before (the kernel's
    figures are updated lazily and were seen to step back by a few pages). A high-water mark over
    the whole process lifetime: useful for a fresh process, coarse inside a test session.
    """
    global _PEAK_RSS_SEEN
    found = []
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    found.append(int(line.split()[1]) * 1024)
    except OSError:
        pass
    try:
        import resource
        rss = int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        found.append(rss if sys.platform == "darwin" else rss * 1024)
    except ImportError:  # Windows
        pass
    if not found:
        raise RuntimeError("peak_rss_bytes needs /proc/self/status or the resource module")
    _PEAK_RSS_SEEN = max(_PEAK_RSS_SEEN, *found)
    return _PEAK_RSS_SEEN
