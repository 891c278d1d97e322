"""Measurements: errors (tolerance units, abs, rel), observed order, NFE, saved-for-backward
bytes, peak memory and repeated wall times.

    from harness.measure import saved_tensor_bytes, CountingField
    saved = saved_tensor_bytes(lambda: odeint(f, y0, t).square().sum())
    saved.bytes, saved.result.backward()
"""

from .memory import (CudaPeak, SavedBytes, SavedTensorsMeter, cuda_peak_bytes, peak_rss_bytes,
                     saved_tensor_bytes)
from .errors import ErrorMeasures, error_measures
from .nfe import CountingField, in_backward_pass
from .order import OrderEstimate, observed_order
from .timing import Timing, spread_exceeds_gaps, time_repeated

__all__ = ["SavedBytes", "SavedTensorsMeter", "saved_tensor_bytes", "CudaPeak", "cuda_peak_bytes",
           "peak_rss_bytes", "CountingField", "in_backward_pass", "ErrorMeasures", "error_measures",
           "OrderEstimate", "observed_order", "Timing", "time_repeated", "spread_exceeds_gaps"]
