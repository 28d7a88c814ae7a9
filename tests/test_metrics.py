"""Prometheus metrics: a known workload, scraped with `queuectl metrics` and over HTTP
(`metrics --listen`, the dashboard's /metrics), parsed with prometheus_client's own parser,
and checked against daemon.status. Bad input: a clear error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import Daemon, wait_for
from dashboard_helpers import free_port, http
from prometheus_client.parser import text_string_to_metric_families


def parse(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(sample name, sorted labels) -> value."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}  # fmt: skip


def q(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return (name, tuple(sorted(labels.items())))


@pytest.fixture(scope="module")
def workload(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """5 succeeding jobs, 2 failing to dead (max_retries 1: two attempts each), 1 cancelled."""
    d = Daemon(tmp_path_factory.mktemp("metrics") / "home", workers=2)
    d.start()
    d.cli("config", "set", "backoff_base", "0.05")
    for i in range(5):
        d.enqueue(f"sleep 0.0{i}")
    for _ in range(2):
        d.enqueue("exit 3", max_retries=1)
    cancelled = d.enqueue("true", run_at="2099-01-01T00:00:00Z")
    d.call("job.cancel", {"id": cancelled["id"]})
    d.wait_all_final()
    yield d
    d.stop()


def test_a_scrape_agrees_with_the_rpc_counts(workload: Daemon) -> None:
    d = workload
    run = d.cli("metrics")
    assert run.returncode == 0, run.stderr
    m = parse(run.stdout)
    counts = d.call("daemon.status")["counts"]
    assert (counts["completed"], counts["dead"], counts["cancelled"]) == (5, 2, 1)
    assert m[q("queuectl_jobs_enqueued_total", queue="default")] == 8
    assert m[q("queuectl_jobs_started_total", queue="default")] == 9  # 5 + 2 x 2 attempts
    assert m[q("queuectl_jobs_completed_total", queue="default")] == counts["completed"]
    assert m[q("queuectl_jobs_failed_attempts_total", queue="default")] == 2
    assert m[q("queuectl_jobs_dead_total", queue="default")] == counts["dead"]
    assert m[q("queuectl_jobs_cancelled_total", queue="default")] == counts["cancelled"]
    for state, n in counts.items():
        assert m[q("queuectl_jobs", queue="default", state=state)] == n
    assert m[q("queuectl_jobs_running")] == 0
    assert m[q("queuectl_oldest_pending_job_age_seconds", queue="default")] == 0
    assert m[q("queuectl_job_duration_seconds_count", queue="default")] == 9
    assert m[q("queuectl_job_duration_seconds_bucket", le="+Inf", queue="default")] == 9
    assert m[q("queuectl_job_pickup_latency_seconds_count", queue="default")] == 9
    assert 0 < m[q("queuectl_job_pickup_latency_seconds_sum", queue="default")] < 60
    assert m[q("queuectl_workers")] == 2 and m[q("queuectl_workers_idle")] == 2
    assert m[q("queuectl_workers_busy")] == 0
    assert m[q("queuectl_daemon_uptime_seconds")] > 0
    assert m[q("queuectl_daemon_resident_memory_bytes")] > 1_000_000
    assert m[q("queuectl_daemon_loop_turn_seconds_count")] > 0
    raw = d.cli("metrics", "--json")
    assert raw.returncode == 0 and '"pickup_seconds"' in raw.stdout


def test_a_running_job_and_a_pending_one_show(workload: Daemon) -> None:
    d = workload
    d.call("workers.scale", {"count": 1})
    long = d.enqueue("sleep 30")
    d.wait_state(long["id"], "processing")
    # (the first waits behind the running job, assigned to its busy worker; the second pends)
    waiting = [d.enqueue("true") for _ in range(2)]
    m = parse(d.cli("metrics").stdout)
    assert m[q("queuectl_jobs_running")] == 1 and m[q("queuectl_workers_busy")] == 1
    assert m[q("queuectl_jobs", queue="default", state="assigned")] == 1
    assert m[q("queuectl_jobs", queue="default", state="pending")] == 1
    assert m[q("queuectl_oldest_pending_job_age_seconds", queue="default")] > 0
    d.call("job.cancel", {"id": long["id"]})
    for job in waiting:
        d.wait_state(job["id"], "completed")
    d.call("workers.scale", {"count": 2})


def test_metrics_listen_wants_the_token_on_loopback_too(workload: Daemon, tmp_path: Path) -> None:
    d = workload
    token_file = tmp_path / "token"
    token_file.write_text("s3cret-token-for-metrics\n")
    token_file.chmod(0o600)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "queuectl", "--home", str(d.home), "metrics", "--listen",
                             f"127.0.0.1:{port}", "--token-file", str(token_file)],
                            env=d.env, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        wait_for(lambda: _answers(url), what="metrics --listen")
        assert http(url).status == 401
        assert http(url, headers={"Authorization": "Bearer wrong-token-wrong-token"}).status == 401
        ok = http(url, headers={"Authorization": "Bearer s3cret-token-for-metrics"})
        assert ok.status == 200 and ok.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        m = parse(ok.text)
        assert m[q("queuectl_jobs_dead_total", queue="default")] == d.call("daemon.status")["counts"]["dead"]
        assert http(url.replace("/metrics", "/other"),
                    headers={"Authorization": "Bearer s3cret-token-for-metrics"}).status == 404  # fmt: skip
        # The port is taken now: a second server (a port alone: loopback) says so and exits.
        again = d.cli("metrics", "--listen", str(port), "--token-file", str(token_file))
        assert again.returncode == 2 and "cannot listen on 127.0.0.1" in again.stderr
        assert "Traceback" not in again.stderr
    finally:
        proc.terminate()
        proc.wait(10)


def _answers(url: str) -> bool:
    try:
        return http(url).status == 401
    except OSError:
        return False


def test_metrics_bad_input(workload: Daemon, tmp_path: Path) -> None:
    d = workload
    for args, words in ((["--listen", "nowhere"], "HOST:PORT"), (["--listen", "127.0.0.1:99999"], "port"),
                        (["--token-file", "x"], "goes with --listen"),
                        (["--listen", "127.0.0.1:0", "--json"], "--json")):  # fmt: skip
        run = d.cli("metrics", *args)
        assert run.returncode == 2 and words in run.stderr and "Traceback" not in run.stderr, (args, run.stderr)
    loose = tmp_path / "loose"
    loose.write_text("a-token-long-enough-to-use\n")
    os.chmod(loose, 0o644)
    run = d.cli("metrics", "--listen", "127.0.0.1:0", "--token-file", str(loose))
    assert run.returncode == 2 and "chmod 600" in run.stderr


def test_the_dashboard_serves_metrics_behind_its_token(workload: Daemon) -> None:
    pytest.importorskip("starlette")
    d = workload
    port = free_port()
    env = {**d.env, "QUEUECTL_DASHBOARD_TOKEN": "dashboard-token-0123456789"}
    proc = subprocess.Popen([sys.executable, "-m", "queuectl", "--home", str(d.home), "dashboard",
                             "--port", str(port)], env=env, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        wait_for(lambda: _answers(url), what="the dashboard")
        ok = http(url, headers={"Authorization": "Bearer dashboard-token-0123456789"})
        assert ok.status == 200, ok.text
        m = parse(ok.text)
        assert m[q("queuectl_jobs_completed_total", queue="default")] == d.call("daemon.status")["counts"]["completed"]
    finally:
        proc.terminate()
        proc.wait(10)
