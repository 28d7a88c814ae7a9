"""The RPC methods the daemon serves, one module per namespace, all listed here."""

from queuectl.daemon.methods import config, daemon, dlq, job, logs, prune, queue, schedule, workers
from queuectl.daemon.rpc import Registry

REGISTRY = Registry([
    job.enqueue, job.enqueue_many, job.get, job.list_jobs, job.cancel, job.retry, job.delete,
    job.wait, logs.logs, prune.prune,
    dlq.dlq_list, dlq.dlq_retry,
    schedule.add, schedule.set_, schedule.list_, schedule.get, schedule.pause, schedule.resume,
    schedule.remove, schedule.run,
    workers.scale, workers.stop, workers.status,
    config.get, config.set_, config.list_,
    daemon.status, daemon.stats, daemon.metrics, daemon.shutdown, daemon.discover,
    queue.add, queue.list_, queue.get, queue.set_, queue.pause, queue.resume, queue.remove,
])  # fmt: skip
