"""What a user runs: flags in, one call into the layers below, a summary out (train, demo, compare, extract,
export, dataset, convert_torch; evaluate calls `reid.evaluation` directly). `cli` holds what they share; `scripts`
is each command's entry point (the console scripts, train.py and evaluate.py)."""
