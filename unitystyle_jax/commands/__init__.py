"""What a user runs: flags in, one call into the layers below, a summary out (train, demo, compare, extract,
export, convert_torch; evaluate.py calls `reid.evaluation` directly). `cli` holds what they share."""
