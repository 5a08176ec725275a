"""Plain-PyTorch twins of the models and of the IDE trainer: parity tests and the comparison's PyTorch row.
Imports torch, a test-only dependency; nothing outside tests, benchmarks and the comparison's torch row uses it."""
