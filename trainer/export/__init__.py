"""Export trained networks to ONNX and check the exported graphs against PyTorch."""

from trainer.export.onnx_graph import OnnxExportError, export_onnx
from trainer.export.parity import ParityReport, parity

__all__ = ["OnnxExportError", "ParityReport", "export_onnx", "parity"]
