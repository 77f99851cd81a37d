"""Clients, encoders and meters for the attacks of test_hardening.py: ADBC
and Flight calls with timing, Flight SQL messages and prepared-statement
handles encoded by hand, and samplers of a process's memory and descriptors."""
import http.client
import os
import random
import select
import struct
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor, wait

import adbc_driver_flightsql
import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa
import pyarrow.flight as fl

from conftest import wait_until

# The demo commits every second while input arrives, and its simulated
# orchestrators publish every 5 s.
COMMIT_GRACE_S = 15


# --- clients ---------------------------------------------------------------

def query(server, sql, timeout=30):
    options = adbc_driver_flightsql.DatabaseOptions
    with flightsql.connect(server.uri, db_kwargs={options.TIMEOUT_QUERY.value: str(timeout),
                                                  options.TIMEOUT_FETCH.value: str(timeout)},
                           autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def refusal(server, sql, timeout=30):
    """The error text of a query that must fail."""
    try:
        rows = query(server, sql, timeout)
    except Exception as e:
        return str(e)
    raise AssertionError(f"{sql[:60]!r}… ({len(sql)} bytes) was answered {rows!r}; it must be refused")


def call_options():
    return fl.FlightCallOptions(timeout=30)


FLIGHT_ERRORS = (pa.ArrowException, fl.FlightError)


def flight_refusal(call, what):
    try:
        call()
    except FLIGHT_ERRORS as e:
        return str(e)
    raise AssertionError(f"{what} was answered; it must be refused")


def assert_healthy(server):
    assert server.p.poll() is None, f"naap demo died (exit {server.p.returncode}):\n{server.log_tail()}"
    started = time.monotonic()
    rows = query(server, "SELECT 1", timeout=2)
    elapsed = time.monotonic() - started
    assert rows == [(1,)] and elapsed < 2.0, f"SELECT 1 gave {rows!r} after {elapsed:.2f}s"


def http_get(server, path, timeout=30):
    """(status, body) of a GET; error statuses are answers too."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.http}{path}", timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def raw_request(port, method, path, headers=(), body_len=0):
    """A request made by hand (long URLs and headers, a declared body sent
    until the server answers); returns (status, content type, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in headers:
            conn.putheader(name, value)
        if body_len:
            conn.putheader("Content-Length", str(body_len))
        conn.endheaders()
        answered = select.poll()
        answered.register(conn.sock, select.POLLIN)
        chunk, sent = b"x" * 65536, 0
        try:
            while sent < body_len and not answered.poll(0):
                n = min(len(chunk), body_len - sent)
                conn.sock.sendall(chunk[:n])
                sent += n
        except OSError:  # the server answered and closed while the body was on its way
            pass
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        conn.close()


def newest_commit(server):
    folder = server.lake / "_naap" / "commits"
    return max((int(n[:-5]) for n in os.listdir(folder) if n.endswith(".json") and n[:-5].isdigit()), default=0)


def assert_committing(server, before):
    wait_until(lambda: newest_commit(server) > before, COMMIT_GRACE_S, f"a pipeline commit after #{before}")


def snapshot_version(server):
    status, body = http_get(server, "/metrics", timeout=5)
    assert status == 200, status
    for line in body.decode().splitlines():
        if line.startswith("naap_scores_snapshot_rows{"):
            return line.split('versions="', 1)[1].split('"', 1)[0]
    raise AssertionError("/metrics has no naap_scores_snapshot_rows line")


# --- measuring -------------------------------------------------------------

def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise OSError(f"process {pid} has no VmRSS (exited)")


def report_memory(pid, idle, settle):
    """For bench/hardening.sh: RSS when ready, the peak over the attacks,
    and RSS while the demo keeps running for `settle` seconds after them."""
    with open(f"/proc/{pid}/status") as f:
        peak = next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmHWM:"))
    after = {}
    started = time.monotonic()
    for mark in (10, 60, 120, settle):
        if mark <= settle:
            time.sleep(max(0.0, started + mark - time.monotonic()))
            after[mark] = rss_mb(pid)
    print(f"\nhardening RSS: ready {idle:.0f} MB, peak {peak:.0f} MB, after the attacks "
          + ", ".join(f"{s}s {mb:.0f} MB" for s, mb in after.items()))


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


class Peak:
    """Samples fn() every `every` seconds while the block runs: .before and .max."""

    def __init__(self, fn, every=0.02):
        self.fn, self.every, self.stop = fn, every, threading.Event()

    def __enter__(self):
        self.before = self.max = self.fn()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self):
        while not self.stop.wait(self.every):
            try:
                self.max = max(self.max, self.fn())
            except OSError:  # the process is gone: assert_healthy says so
                return

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(5)


def _outcome(fn, item):
    started = time.monotonic()
    try:
        result = ("ok", fn(item))
    except Exception as e:
        result = ("error", str(e))
    return result + (started, time.monotonic())


def concurrently(fn, items, within):
    """fn(item) for every item at once, all done within `within` seconds;
    one (\"ok\", value | \"error\", text, started, ended) per item."""
    pool = ThreadPoolExecutor(max_workers=len(items))
    try:
        futures = [pool.submit(_outcome, fn, item) for item in items]
        _, pending = wait(futures, timeout=within)
        assert not pending, f"{len(pending)} of {len(items)} calls still running after {within}s"
        return [f.result() for f in futures]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


# --- Flight SQL messages, encoded by hand ----------------------------------

def pb_bytes(field, data):
    out, n = bytearray([field << 3 | 2]), len(data)
    while True:
        out.append(n & 0x7F | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out) + data


def pb_field1(buf):
    """Field 1 (bytes) of a protobuf message that starts with it."""
    assert buf[:1] == b"\x0a", buf[:16]
    n, shift, i = 0, 0, 1
    while True:
        b = buf[i]
        n, shift, i = n | (b & 0x7F) << shift, shift + 7, i + 1
        if b < 0x80:
            return buf[i:i + n]


def flight_sql(message, body):
    """google.protobuf.Any of a Flight SQL message."""
    return pb_bytes(1, f"type.googleapis.com/arrow.flight.protocol.sql.{message}".encode()) + pb_bytes(2, body)


def prepared(handle):
    return flight_sql("CommandPreparedStatementQuery", pb_bytes(1, handle))


def prepared_calls(client, handle):
    """The two calls that decode a prepared-statement handle, by method name."""
    command = prepared(handle)
    return {
        "DoGet": lambda: client.do_get(fl.Ticket(command), call_options()).read_all(),
        "GetFlightInfo": lambda: client.get_flight_info(fl.FlightDescriptor.for_command(command), call_options()),
    }


def handle(sql, ipc=b""):
    return b"naap-ps1" + len(sql.encode()).to_bytes(8, "big") + sql.encode() + ipc


PARAM = b"\x07" * 1000


def param_ipc():
    """One row of bound parameters as an Arrow IPC stream: a 1000-byte
    binary value, so that the batch's body length is distinctive."""
    batch = pa.record_batch([pa.array([PARAM], pa.binary())], names=["$1"])
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


def ipc_messages(stream):
    """(offset, metadata length, body length) of each message of an IPC stream."""
    out, pos = [], 0
    while True:
        marker, meta_len = struct.unpack_from("<Ii", stream, pos)
        assert marker == 0xFFFFFFFF, f"no continuation marker at {pos}"
        if meta_len == 0:
            return out
        message = pa.ipc.read_message(pa.py_buffer(stream[pos:]))
        body = message.body.size if message.body is not None else 0
        out.append((pos, meta_len, body))
        pos += 8 + meta_len + body


def with_huge_body(stream):
    """The stream with its record batch claiming a 1 TiB body."""
    _, (pos, meta_len, body) = ipc_messages(stream)
    meta, true_len = stream[pos + 8:pos + 8 + meta_len], struct.pack("<q", body)
    assert meta.count(true_len) == 1, f"body length {body} is ambiguous in the batch metadata"
    at = pos + 8 + meta.index(true_len)
    return stream[:at] + struct.pack("<q", 1 << 40) + stream[at + 8:]


def forged_handles():
    ipc, rng = param_ipc(), random.Random(12)
    good = handle("SELECT $1", ipc)
    return {
        "1 TiB record batch body": handle("SELECT $1", with_huge_body(ipc)),
        "2 GiB schema metadata": handle("SELECT $1", ipc[:4] + struct.pack("<i", 2**31 - 1) + ipc[8:]),
        "2^64-1 bytes of SQL": b"naap-ps1" + (2**64 - 1).to_bytes(8, "big") + b"SELECT 1",
        "truncated parameters": good[:-600],
        "truncated length": b"naap-ps1\x00\x00\x00",
        "random bytes": rng.randbytes(4096),
        "random parameters": handle("SELECT $1", rng.randbytes(4096)),
    }


# --- round 2: compressed parameters, raw DoPut, CPU and memory settling -----

ZSTD_MAGIC, LZ4_MAGIC = b"\x28\xb5\x2f\xfd", b"\x04\x22\x4d\x18"


def pb_field(field, data):
    """A length-delimited protobuf field of any number."""
    def varint(n):
        out = bytearray()
        while True:
            out.append(n & 0x7F | (0x80 if n > 0x7F else 0))
            n >>= 7
            if not n:
                return bytes(out)
    return varint(field << 3 | 2) + varint(len(data)) + data


def compressed_param_ipc(codec):
    """One row of parameters whose 1000-byte value travels compressed (a
    zstd or lz4 IPC stream), and where its uncompressed length sits."""
    batch = pa.record_batch([pa.array([PARAM], pa.binary())], names=["$1"])
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema, options=pa.ipc.IpcWriteOptions(compression=codec)) as writer:
        writer.write_batch(batch)
    stream = sink.getvalue().to_pybytes()
    magic = ZSTD_MAGIC if codec == "zstd" else LZ4_MAGIC
    at = stream.index(struct.pack("<q", len(PARAM)) + magic)
    return stream, at


def with_declared_length(stream, at, length):
    return stream[:at] + struct.pack("<q", length) + stream[at + 8:]


def ipc_parts(stream):
    """(metadata, body) of each message of an IPC stream."""
    return [(stream[pos + 8:pos + 8 + meta_len], stream[pos + 8 + meta_len:pos + 8 + meta_len + body])
            for pos, meta_len, body in ipc_messages(stream)]


def raw_do_put(port, command, stream):
    """DoPut of `stream`'s messages as hand-made FlightData through grpcio;
    the gRPC status code and details it ended with (OK: None)."""
    import grpc
    descriptor = b"\x08\x02" + pb_field(2, command)  # type CMD, the command
    messages = []
    for i, (metadata, body) in enumerate(ipc_parts(stream)):
        data = (pb_field(1, descriptor) if i == 0 else b"") + pb_field(2, metadata)
        messages.append(data + (pb_field(1000, body) if body else b""))
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.stream_stream("/arrow.flight.protocol.FlightService/DoPut",
                                     request_serializer=lambda b: b, response_deserializer=lambda b: b)
        try:
            list(call(iter(messages), timeout=30))
            return None
        except grpc.RpcError as e:
            return e.code().name, e.details()


def cpu_seconds(pid):
    """User and system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_use(pid, seconds):
    """Cores a process kept busy over the next `seconds`."""
    before, started = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(pid) - before) / (time.monotonic() - started)


def assert_rss_settles(pid, before_mb, margin_mb=100, within_s=30):
    """RSS comes back to within `margin_mb` of `before_mb` after an attack."""
    deadline, now = time.monotonic() + within_s, rss_mb(pid)
    while now > before_mb + margin_mb and time.monotonic() < deadline:
        time.sleep(0.5)
        now = rss_mb(pid)
    assert now <= before_mb + margin_mb, f"RSS {now:.0f} MB, {before_mb:.0f} MB before the attack"


def assert_fast_paths(server):
    """SELECT 1 over Flight SQL and /v1/scores over HTTP, each within 2 s."""
    assert_healthy(server)
    started = time.monotonic()
    status, _ = http_get(server, "/v1/scores", timeout=2)
    took = time.monotonic() - started
    assert status == 200 and took < 2.0, f"/v1/scores answered {status} after {took:.2f}s"
