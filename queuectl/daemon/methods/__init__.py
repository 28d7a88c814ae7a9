"""RPC handlers, one module per namespace. Importing this package registers them all."""

from queuectl.daemon.methods import config, daemon, dlq, job, workers  # noqa: F401
