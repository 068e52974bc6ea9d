"""What ``k8s-aws-auth serve`` runs: one server process, or a supervisor of workers."""

from __future__ import annotations

from ._config import ServerConfig
from ._serve import run_server
from ._workers import run_workers

__all__ = ["run_command"]


def run_command(config: ServerConfig) -> int:
    """Serve ``config`` until SIGTERM/SIGINT (``workers`` > 1: under a supervisor); the exit code."""
    if config.workers > 1:
        return run_workers(config, config.workers)
    return run_server(config)
