"""Fixtures for the interop tests: the real naap binary and the services test.sh starts."""
import os
import shutil
import socket
import subprocess
import time

import pytest

# pyarrow's C++ runtime must load before polars': the other way round, a
# process that read a Delta table with the deltalake package aborts at exit
# ("terminate called without an active exception").
import pyarrow  # noqa: F401  (imported for its load order)


def _required_env(name):
    value = os.environ.get(name)
    if value:
        return value
    if os.environ.get("CI") == "true":
        pytest.fail(f"{name} is not set and CI=true: run through ./test.sh")
    pytest.skip(f"{name} not set (./test.sh starts the service)")


@pytest.fixture(scope="session")
def naap_bin():
    path = os.environ.get("NAAP_BIN") or shutil.which("naap")
    if not path or not os.path.exists(path):
        pytest.fail("NAAP_BIN must point at the naap binary (./test.sh sets it)")
    return path


@pytest.fixture
def kafka():
    return _required_env("NAAP_TEST_KAFKA")


@pytest.fixture
def s3():
    return {
        "endpoint": _required_env("NAAP_TEST_S3_ENDPOINT"),
        "bucket": _required_env("NAAP_TEST_S3_BUCKET"),
    }


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), 0.5).close()
        return True
    except OSError:
        return False


def wait_until(predicate, timeout, what):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as e:  # the server may not be up yet
            last = e
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last error: {last!r}")


def run(cmd, **kw):
    """Runs a naap command to completion; fails with its output on error."""
    env = dict(os.environ, NAAP_LOG=os.environ.get("NAAP_LOG", "warn"))
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, **kw)
    assert p.returncode == 0, f"{cmd} exited {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    return p


class Proc:
    """A background naap process, stopped (by PID) when the test ends."""

    def __init__(self, cmd, log_path, cwd=None):
        self.log_path = log_path
        self.log = open(log_path, "w")
        env = dict(os.environ, NAAP_LOG=os.environ.get("NAAP_LOG", "info"))
        self.p = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=cwd)

    def output(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(20)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()


@pytest.fixture
def background(tmp_path):
    procs = []

    def start(cmd, name):
        proc = Proc(cmd, tmp_path / f"{name}.log")
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        proc.stop()


@pytest.fixture
def serve_lake(naap_bin, background):
    """Starts `naap serve` over a lake directory with extra flags; returns
    (flight_port, http_port) once both listen."""

    def start(lake, *flags, name="serve"):
        flight_port, http_port = free_port(), free_port()
        background([naap_bin, "serve", "--lake", str(lake), "--flight-addr", f"127.0.0.1:{flight_port}",
                    "--http-addr", f"127.0.0.1:{http_port}", *flags], name)
        wait_until(lambda: port_open(http_port) and port_open(flight_port), 30, "naap serve")
        return flight_port, http_port

    return start


@pytest.fixture
def serve_simulated_lake(naap_bin, serve_lake, tmp_path):
    """`naap serve` over a lake replayed from 3 minutes of 4 simulated
    orchestrators, with extra serve flags; returns the Flight URI."""

    def start(*flags):
        messages, lake = tmp_path / "in.naapmsg", tmp_path / "lake"
        run([naap_bin, "emit", "--simulate", "4", "--from", "2026-01-08T21:00:00Z", "--span", "3m",
             "--output", str(messages)])
        run([naap_bin, "replay", "--input", str(messages), "--lake", str(lake)])
        flight_port, _ = serve_lake(lake, *flags)
        return f"grpc://127.0.0.1:{flight_port}"

    return start
