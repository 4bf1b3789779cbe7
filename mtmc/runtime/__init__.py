"""The running system: per-camera worker processes, the central matcher, and the supervisor of ``mtmc run``."""
