"""A long-running `naap demo` with tight limits, for the attack suites
(test_hardening.py, test_attacks_*.py): one per test module."""
import os
import resource
import subprocess

import pytest

from attack_tools import query, report_memory, rss_mb
from conftest import free_port, port_open, wait_until

QUERY_TIMEOUT_S, QUERY_MEMORY_MB, MAX_CONCURRENT = 4, 64, 4
MAX_SQL_BYTES, IDLE_TIMEOUT_S, SERVER_FDS = 65536, 4, 1024


class Demo:
    def __init__(self, p, lake, log_path, flight, http_port, byoc, brokers):
        self.p, self.lake, self.log_path = p, lake, log_path
        self.flight, self.http, self.byoc, self.brokers = flight, http_port, byoc, brokers
        self.uri = f"grpc://127.0.0.1:{flight}"

    def log_tail(self, chars=6000):
        with open(self.log_path, errors="replace") as f:
            return f.read()[-chars:]

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()


def _server_fd_limit():
    resource.setrlimit(resource.RLIMIT_NOFILE, (SERVER_FDS, SERVER_FDS))


def _brokers(log_path):
    """The in-process Kafka's address, from the demo's first line."""
    with open(log_path, errors="replace") as f:
        for line in f:
            if "in-process Kafka (" in line:
                return line.split("in-process Kafka (", 1)[1].split(",", 1)[0]
    return None


def start_demo(naap_bin, base):
    """Starts the demo under `base` and waits until it serves scores; a
    generator for a fixture (stops the demo after the module)."""
    flight, http_port, byoc = free_port(), free_port(), free_port()
    lake, log_path = base / "naap-data", base / "demo.log"
    cmd = [naap_bin, "demo", "--orchestrators", "6", "--backfill", "2m", "--progress-every", "1s",
           "--lake", str(lake), "--flight-addr", f"127.0.0.1:{flight}", "--http-addr", f"127.0.0.1:{http_port}",
           "--byoc-addr", f"127.0.0.1:{byoc}", "--query-timeout", f"{QUERY_TIMEOUT_S}s",
           "--query-memory-mb", str(QUERY_MEMORY_MB), "--max-concurrent-queries", str(MAX_CONCURRENT),
           "--max-queued-queries", "8", "--query-queue-timeout", "1s", "--max-connections", "128",
           "--header-read-timeout", "2s", "--idle-timeout", f"{IDLE_TIMEOUT_S}s", "--max-put-bytes", "65536"]
    with open(log_path, "w") as log:
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, NAAP_LOG="info"),
                             preexec_fn=_server_fd_limit)
    demo = Demo(p, lake, log_path, flight, http_port, byoc, None)

    def ready():
        if p.poll() is not None:
            return True
        if not all(port_open(port) for port in (flight, http_port, byoc)):
            return False
        return query(demo, "SELECT count(*) FROM scores", timeout=10)[0][0] > 0

    try:
        try:
            wait_until(ready, 90, "naap demo to listen on its 3 ports and serve scores")
        except AssertionError as e:
            pytest.fail(f"{e}\n{demo.log_tail()}")
        assert p.poll() is None, f"naap demo exited with {p.returncode}:\n{demo.log_tail()}"
        demo.brokers = _brokers(log_path)
        idle = rss_mb(p.pid)
        yield demo
        settle = int(os.environ.get("NAAP_HARDENING_SETTLE", "0"))
        if settle and p.poll() is None:
            report_memory(p.pid, idle, settle)
    finally:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
