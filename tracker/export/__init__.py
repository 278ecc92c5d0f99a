"""Exporters: a Siamese model as ONNX graphs with a sidecar (`onnx.export_model`, read back by
tracker.engines.exported), as the two graphs OpenCV's TrackerNano loads (`nano`), and an export's int8
version (`quantize`)."""
