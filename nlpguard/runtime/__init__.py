"""Runtime layer: model directories and the scorers that run them (baseline, transformer, ONNX), and score aggregation."""
