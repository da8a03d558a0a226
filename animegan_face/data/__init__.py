"""Stage 1, the data: image files, face boxes, dataset preparation and the training input pipelines."""
