"""Training: the train state and step, the loop, checkpoints, evaluation and its metrics."""
