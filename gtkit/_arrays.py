"""The numpy array types the numeric modules annotate with, defined once.

It imports nothing of gtkit's, so any module (box and mask scoring, consensus, worker analysis,
the emulator) can take them from here without depending on another's code.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["FloatArray", "IntArray"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
