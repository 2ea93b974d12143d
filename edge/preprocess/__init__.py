"""Frame preprocessing: a BGR ``uint8`` frame becomes the network input ``[3, H, W]``, and back.

Two paths give the same numbers (the trainer's convention: ``cv2.resize`` ``INTER_LINEAR`` on the
``uint8`` image, then ``(x / 255 - mean) / std`` in float32):

- :func:`preprocess_cpu`: numpy and OpenCV, everywhere;
- :class:`CudaPreprocessor`: one fused CUDA kernel writing into the TensorRT engine's input buffer
  (pycuda is imported only when one is created).

:func:`restore_mask` and :func:`restore_probabilities` map network outputs back to frame pixels.
"""

from edge.preprocess.cpu import INTERPOLATION, UndistortMaps, preprocess_cpu
from edge.preprocess.cuda import CudaPreprocessor, GpuPreprocessError
from edge.preprocess.restore import NOT_MEASURED, restore_mask, restore_probabilities
from edge.preprocess.spec import OUTPUT_DTYPES, PreprocessSpec, check_frame

__all__ = [
    "INTERPOLATION",
    "NOT_MEASURED",
    "OUTPUT_DTYPES",
    "CudaPreprocessor",
    "GpuPreprocessError",
    "PreprocessSpec",
    "UndistortMaps",
    "check_frame",
    "preprocess_cpu",
    "restore_mask",
    "restore_probabilities",
]
