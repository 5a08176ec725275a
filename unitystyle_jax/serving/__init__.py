"""A trained run put to use outside training: features for any images (`Extractor`), and StableHLO / ONNX export."""
