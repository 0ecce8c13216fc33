"""Events and actors that exist only for the benchmarks."""
