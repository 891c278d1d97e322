"""Disk cache of the gradient oracles (harness.oracles.gradients), the counterpart of the forward
oracles' cache (harness.oracles.forward, "Cache"): same folder ($ODE_HARNESS_CACHE, default
~/.cache/ode-harness/oracles), same format rules (.npz of numpy arrays and strings only, loaded
with `allow_pickle=False`, written atomically), cleared by the same `clear_cache()`.

Why: the gradient oracles are most of the oracle time of a run (issue 12, measured with
benchmarks/bench_harness_cost.py: 26 of 30 s at the standard profile), and their answer is a pure
function of the field, the inputs and the oracle's code, so a second run need not recompute it.

The key (sha256) covers everything the answer depends on:

* the field (`field_fingerprint`): the source of the class of every submodule, the callables and
  plain data stored on them (e.g. the formula `fn` of `harness.problems.VectorField`, through
  `harness.oracles.forward._callable_fingerprint`: its source text and the numeric constants and
  same-module helpers it refers to), the values, dtype and shape of every parameter and buffer,
  and which parameters are trainable;
* the inputs y0, t, g and every keyword argument (tolerances, directions, seed, options);
* the oracle's own code: the sha256 of the source files of harness/oracles/gradients.py and
  harness/oracles/finite_differences.py (any edit there invalidates every entry), and the
  versions of torch, torchdiffeq, scipy and numpy, and a format version.

A field the fingerprint cannot describe completely (hooks registered on a module, an attribute
that is neither data, a callable nor a submodule, a callable without source) is never cached: the
oracle is computed as without a cache. An unreadable or mismatching entry is recomputed; an
unwritable cache only costs recomputation.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable, TypeVar

import numpy as np
import scipy
import torch
import torchdiffeq
from torch import nn

from harness.oracles.forward import _callable_fingerprint, _data_digest, cache_dir

__all__ = ["field_fingerprint", "gradient_cache_key", "cached_oracle"]

_FORMAT_VERSION = 1
_ORACLE_SOURCES = ("gradients.py", "finite_differences.py")
# nn.Module's own bookkeeping attributes: dicts/sets of parameters, buffers, submodules and hooks
_MODULE_INTERNALS = {"training", "_parameters", "_buffers", "_non_persistent_buffers_set", "_modules",
                     "_is_full_backward_hook", "call_super_init", "_compiled_call_impl"}
_HOOK_PREFIXES = ("_forward_", "_backward_", "_state_dict_", "_load_state_dict_")

R = TypeVar("R")


class _Unfingerprintable(Exception):
    """The field holds something whose effect on the answer the key cannot capture."""


def _code_digest() -> str:
    here = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for name in _ORACLE_SOURCES:
        h.update(name.encode())
        h.update((here / name).read_bytes())
    return h.hexdigest()


def _tensor_digest(x: torch.Tensor) -> dict:
    a = x.detach().cpu().contiguous()
    return {"dtype": str(a.dtype), "shape": list(a.shape),
            "sha256": hashlib.sha256(a.numpy().tobytes()).hexdigest()}


def _value_digest(value: Any) -> Any:
    """Digest of data (numbers, strings, arrays, tensors, sequences of them); raises
    _Unfingerprintable for anything else."""
    if isinstance(value, torch.Tensor):
        return _tensor_digest(value)
    if isinstance(value, dict):
        return {str(k): _value_digest(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (tuple, list)):
        return [_value_digest(v) for v in value]
    d = _data_digest(value)
    if d is None and value is not None:
        raise _Unfingerprintable(f"not data: {type(value).__qualname__}")
    return d


def _class_source(cls: type) -> dict:
    import inspect

    out = {}
    for klass in cls.__mro__:
        if klass in (nn.Module, object):
            break
        try:
            out[f"{klass.__module__}.{klass.__qualname__}"] = inspect.getsource(klass)
        except (OSError, TypeError) as exc:
            raise _Unfingerprintable(f"no source for class {klass.__qualname__}") from exc
    return out


def field_fingerprint(field: nn.Module) -> dict | None:
    """A JSON-able description of everything that determines what `field(t, y)` computes, or
    None when the field holds something that cannot be described (then nothing is cached)."""
    try:
        modules = {}
        for name, m in field.named_modules():
            attrs: dict[str, Any] = {}
            for key, value in sorted(vars(m).items()):
                if key in _MODULE_INTERNALS:
                    continue
                if key.startswith(_HOOK_PREFIXES):
                    if value:  # a registered hook changes the computation
                        raise _Unfingerprintable(f"hook {key} on module {name!r}")
                    continue
                if callable(value) and not isinstance(value, (torch.Tensor, nn.Module)):
                    fp = _callable_fingerprint(value)
                    if not isinstance(fp, dict) or fp.get("source") is None and "code" not in fp \
                            and "partial" not in fp:
                        raise _Unfingerprintable(f"callable {key} on module {name!r} has no source")
                    attrs[key] = fp
                else:
                    attrs[key] = _value_digest(value)
            modules[name] = {"class": _class_source(type(m)), "attrs": attrs}
        tensors = {k: _tensor_digest(v) for k, v in sorted(field.state_dict(keep_vars=True).items())}
        trainable = sorted(n for n, p in field.named_parameters() if p.requires_grad)
    except _Unfingerprintable:
        return None
    return {"modules": modules, "tensors": tensors, "trainable": trainable}


def gradient_cache_key(oracle: str, field: nn.Module, inputs: dict[str, Any]) -> str | None:
    """sha256 key of one gradient-oracle call, or None when it must not be cached."""
    fp = field_fingerprint(field)
    if fp is None:
        return None
    try:
        args = {k: _value_digest(v) for k, v in sorted(inputs.items())}
    except _Unfingerprintable:
        return None
    payload = {"format": _FORMAT_VERSION, "oracle": oracle, "code": _code_digest(), "field": fp,
               "inputs": args, "versions": {"torch": torch.__version__, "torchdiffeq": torchdiffeq.__version__,
                                            "scipy": scipy.__version__, "numpy": np.__version__}}
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()


# ------------------------------------------------------------------------------ (de)serialising
# A result dataclass becomes JSON (its plain fields) plus named arrays: every numpy array inside
# it, however nested in lists and dicts, is replaced by {"__array__": "aK"} and stored as aK.


def _encode(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(value, np.ndarray):
        name = f"a{len(arrays)}"
        arrays[name] = value
        return {"__array__": name}
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("non-string key")
        return {k: _encode(v, arrays) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v, arrays) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot store {type(value).__qualname__}")


def _decode(value: Any, arrays: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__array__"}:
            return arrays[value["__array__"]].copy()
        return {k: _decode(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v, arrays) for v in value]
    return value


def _path(oracle: str, key: str) -> Path:
    return cache_dir() / f"grad-{oracle}-{key[:40]}.npz"


def _load(path: Path, key: str, cls: type) -> Any | None:
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["key"]) != key:
                return None
            meta = json.loads(str(z["meta"]))
            fields = _decode(meta, z)
        return cls(**fields)
    except (OSError, KeyError, ValueError, TypeError, zipfile.BadZipFile):
        return None


def _store(path: Path, key: str, result: Any) -> None:
    arrays: dict[str, np.ndarray] = {}
    meta = _encode(dict(vars(result)), arrays)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.savez(f, key=np.array(key), meta=np.array(json.dumps(meta)), **arrays)
    os.replace(tmp, path)  # atomic: concurrent readers never see a partial file


def cached_oracle(oracle: str, compute: Callable[[], R], field: nn.Module, inputs: dict[str, Any],
                  cls: type, use_cache: bool) -> R:
    """compute() through the disk cache: the stored result of the same call (same `oracle` name,
    field and inputs), else compute() and store it. `cls` is the result's dataclass."""
    key = gradient_cache_key(oracle, field, inputs) if use_cache else None
    if key is None:
        return compute()
    path = _path(oracle, key)
    hit = _load(path, key, cls)
    if hit is not None:
        return hit
    result = compute()
    try:
        _store(path, key, result)
    except (OSError, TypeError):
        pass  # unwritable cache or a result with something unstorable: recomputed next time
    return result
