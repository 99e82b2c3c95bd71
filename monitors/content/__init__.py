"""Image and text baselines: per-item properties, unit frequencies and an embedding sample."""
