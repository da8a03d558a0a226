"""Stage 3, using a trained generator: loading any saved form of it (`inference`), export to
SavedModel, TFLite and ONNX with their checks and provenance, and stylising photos and video."""
