"""Training infrastructure: experiment set-up, checkpoints, checkpoint averaging, feature cache,
reporting."""
