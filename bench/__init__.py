"""Benchmarks: every figure is printed next to an anchor measured in the same run."""
