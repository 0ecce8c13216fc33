"""Benchmark suite for walnats_django (scripts, not tests): see run_all.py."""
