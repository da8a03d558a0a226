"""Stage 4, judging a generator: offline quality metrics (`metrics`) and the blind-rating page (`rating`)."""
