"""Daemons sharing a PostgreSQL database wake each other with NOTIFY (store/postgres/wake.py).
A notification must wake the loop at once however it arrives, not at the next poll."""

from __future__ import annotations

import select
import time
from types import SimpleNamespace
from typing import Any

from tests.unit.conftest import empty_database


def test_a_notification_read_with_a_commits_reply_wakes_the_loop_at_once(pg_shared: tuple[str, Any]) -> None:
    """PostgreSQL sends a notification that came while the listener's transaction ran just
    before the commit's ReadyForQuery, so psycopg reads it with the reply and the socket
    has nothing left to wake the daemon's wait: the daemon must take it before it waits
    (before, it slept until its next poll, up to `cluster_poll`: benchmarks/cluster.py saw
    a pickup across daemons take a second)."""
    from queuectl.daemon.cluster import Cluster
    from queuectl.daemon.store.postgres import PgStore

    url, admin = pg_shared
    empty_database(admin)
    store = PgStore(url, name="b")
    try:
        mono = time.monotonic()
        daemon = SimpleNamespace(config={"lease": 10.0, "lease_renew": 2.0, "cluster_poll": 1.0},
                                 events=SimpleNamespace(subscriptions=0), store_failing=None)  # fmt: skip
        cluster = Cluster(daemon, store, mono)  # type: ignore[arg-type]
        cluster.woken(mono)  # (the first listen's own wake)
        cluster.take_refresh()
        assert cluster.wake_at() > mono
        with store.transaction():
            admin.execute("SELECT pg_notify('queuectl_jobs', 'a')")  # another daemon's, committed
            store.db.execute("SELECT pg_sleep(0.05)")
        fd = store.wake_fd()
        assert fd is not None and not select.select([fd], [], [], 0.2)[0], "the socket still had it"
        assert cluster.wake_at() == 0.0
        assert cluster.take_refresh()
        assert cluster.wake_at() > time.monotonic()  # (taken: once only)
    finally:
        store.close()
