"""Measurements for benchmarks and scaling tests: saved-for-backward bytes, peak memory, NFE.

    from harness.measure import saved_tensor_bytes, CountingField
    saved = saved_tensor_bytes(lambda: odeint(f, y0, t).square().sum())
    saved.bytes, saved.result.backward()
"""

from .memory import (CudaPeak, SavedBytes, SavedTensorsMeter, cuda_peak_bytes, peak_rss_bytes,
                     saved_tensor_bytes)
from .nfe import CountingField, in_backward_pass

__all__ = ["SavedBytes", "SavedTensorsMeter", "saved_tensor_bytes", "CudaPeak", "cuda_peak_bytes",
           "peak_rss_bytes", "CountingField", "in_backward_pass"]
