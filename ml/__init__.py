"""The ML app (Django side) and, in ml.engine, the torch/MONAI package that never imports Django."""
