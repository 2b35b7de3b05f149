"""Training runs: load the read model, fit off the event loop, register, activate if better.
One replica at a time (a Redis lock); triggered by the CLI, the API or the scheduler."""
