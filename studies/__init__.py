"""Studies built on the runtime: noise sweeps and comparisons, their statistics and plots."""
