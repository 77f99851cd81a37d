"""The node agent and the pipeline through secured listeners: agent → broker
→ pipeline → lake over TLS (`security.protocol=SSL`, a private CA made
here) and over SASL/SCRAM-SHA-512 inside TLS (`SASL_SSL`, the password from
NAAP_KAFKA_SASL_PASSWORD), and the operator's view of what goes wrong (a CA
the client does not trust, a plaintext client on the TLS port, a wrong
password): one WARN line that says what is wrong, no ERROR, nothing lost.

Tansu 0.6, the test broker, cannot serve TLS itself (its `--cert`/`--key`
are never used), so stunnel (Debian's `stunnel4`) terminates TLS in front
of it, as a TLS proxy does in front of many brokers; Tansu advertises the
TLS port, so every connection after the first goes through TLS as well.
SASL needs a Tansu that stores users: the PyPI build's storage engine does
not, so ./test.sh builds Tansu 0.6.0 from crates.io with its SQLite store
(NAAP_TANSU_SASL_BIN), whose users are made with `tansu user create`."""
import os
import re
import shutil
import subprocess

import pytest

from conftest import Proc, free_port, port_open, run, wait_until
from lake_readers import arrow_table

ORCH = "0x00000000000000000000000000000000000000aa"


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certificates(dir):
    """A CA and a server certificate for 127.0.0.1; a second CA nobody used."""
    (dir / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{ca}.key", "-out", f"{ca}.pem",
                "-days", "2", "-subj", f"/CN=naap test {ca}", cwd=dir)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=127.0.0.1", cwd=dir)
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "2", "-extfile", "san.cnf", cwd=dir)


def stunnel_binary():
    stunnel = shutil.which("stunnel4") or shutil.which("stunnel")
    if not stunnel:
        pytest.fail("needs Debian's stunnel4 (./test.sh installs it)")
    return stunnel


def behind_tls(tmp_path, tansu, *flags, cwd=None):
    """Tansu on a plaintext loopback port, advertising a TLS port that
    stunnel serves in front of it (certificates made here); yields
    (brokers, dir) and stops both."""
    stunnel = stunnel_binary()
    make_certificates(tmp_path)
    tls_port, plain_port = free_port(), free_port()
    broker = Proc([tansu, "broker", "--listener-url", f"tcp://127.0.0.1:{plain_port}",
                   "--advertised-listener-url", f"tcp://127.0.0.1:{tls_port}", *flags],
                  tmp_path / "tansu.log", cwd=cwd)
    (tmp_path / "stunnel.conf").write_text(
        f"foreground = yes\npid =\n[kafka]\naccept = 127.0.0.1:{tls_port}\n"
        f"connect = 127.0.0.1:{plain_port}\ncert = {tmp_path / 'server.pem'}\nkey = {tmp_path / 'server.key'}\n")
    proxy = Proc([stunnel, str(tmp_path / "stunnel.conf")], tmp_path / "stunnel.log")
    try:
        wait_until(lambda: port_open(plain_port) and port_open(tls_port), 30, "tansu behind stunnel")
        yield f"127.0.0.1:{tls_port}", tmp_path
    finally:
        proxy.stop()
        broker.stop()


@pytest.fixture
def tls_broker(tmp_path):
    tansu = os.environ.get("NAAP_TANSU_BIN")
    if not tansu:
        pytest.fail("needs NAAP_TANSU_BIN (./test.sh sets it)")
    yield from behind_tls(tmp_path, tansu, "--storage-engine", "memory://tansu/")


def emit(naap_bin, brokers, spool, *properties, duration="3s", env=None):
    """The agent for `duration` (with `env` added): (stdout, stderr)."""
    args = [naap_bin, "emit", "--brokers", brokers, "--topic", "naap.tls.v1", "--orchestrator", ORCH,
            "--no-gpu", "--no-host", "--heartbeat-interval", "200ms", "--delivery-timeout", "2s",
            "--flush-timeout", "20s", "--duration", duration, "--spool-dir", str(spool)]
    for p in properties:
        args += ["--kafka-property", p]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "NAAP_LOG": "info", "RUST_BACKTRACE": "0", **(env or {})})
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, done.stderr


def counts(stdout):
    match = re.search(r"spool: spooled (\d+), delivered (\d+)", stdout)
    assert match, stdout
    return int(match.group(1)), int(match.group(2))


def test_agent_broker_pipeline_over_tls(naap_bin, tls_broker):
    brokers, dir = tls_broker
    tls = ["security.protocol=SSL", f"ssl.ca.location={dir / 'ca.pem'}"]
    out, err = emit(naap_bin, brokers, dir / "spool", *tls)
    spooled, delivered = counts(out)
    assert spooled >= 5 and delivered == spooled, out
    assert "first batch acknowledged" in err and "security=SSL" in err and "ERROR" not in err, err
    lake = dir / "lake"
    run([naap_bin, "pipeline", "--brokers", brokers, "--topic", "naap.tls.v1", "--lake", str(lake),
         "--stop-after-idle", "5s", "--kafka-property", "session.timeout.ms=6000",
         *[a for p in tls for a in ("--kafka-property", p)]])
    assert arrow_table(lake, "node_telemetry").num_rows == spooled


@pytest.mark.parametrize("case, properties, problem", [
    ("unknown CA", ["security.protocol=SSL", "ssl.ca.location={dir}/other-ca.pem"],
     "the broker's TLS certificate is not trusted"),
    ("plaintext client on the TLS port", [], "plaintext client on a TLS port"),
])
def test_a_wrong_setting_is_one_clear_warning_and_the_spool_keeps_everything(
        naap_bin, tls_broker, case, properties, problem):
    brokers, dir = tls_broker
    spool = dir / "spool"
    out, err = emit(naap_bin, brokers, spool, *[p.format(dir=dir) for p in properties], duration="2s")
    spooled, delivered = counts(out)
    assert spooled >= 3 and delivered == 0, (case, out)
    warnings = [line for line in err.splitlines() if "cannot reach the broker" in line]
    assert len(warnings) == 1 and problem in warnings[0], (case, err)
    assert "ERROR" not in err, (case, err)
    assert len(list(spool.glob("*.msg"))) == spooled, "the spool keeps every message"
    # Set right, the next start delivers what the spool kept.
    out, _ = emit(naap_bin, brokers, spool, "security.protocol=SSL", f"ssl.ca.location={dir / 'ca.pem'}",
                  duration="1s")
    assert not list(spool.glob("*.msg")), out


PASSWORD = "naap-s3cret-Passw0rd"
USER = "orch-aa"


@pytest.fixture
def sasl_broker(tmp_path):
    """Tansu with its SQLite store requiring SCRAM, behind stunnel; the
    user is made over the broker before it requires authentication."""
    tansu = os.environ.get("NAAP_TANSU_SASL_BIN")
    if not tansu:
        pytest.fail("needs NAAP_TANSU_SASL_BIN (./test.sh builds Tansu with its SQLite store)")
    store = ["--storage-engine", "sqlite://tansu.db"]
    port = free_port()
    setup = Proc([tansu, "broker", "--listener-url", f"tcp://127.0.0.1:{port}",
                  "--advertised-listener-url", f"tcp://127.0.0.1:{port}", *store],
                 tmp_path / "tansu-setup.log", cwd=tmp_path)
    try:
        wait_until(lambda: port_open(port), 30, "tansu (setup)")
        subprocess.run([tansu, "user", "create", "--broker", f"tcp://127.0.0.1:{port}", "--mechanism", "scram512",
                        USER, PASSWORD], check=True, capture_output=True, timeout=60)
    finally:
        setup.stop()
    yield from behind_tls(tmp_path, tansu, *store, "--authentication", cwd=tmp_path)


def scram(dir):
    return ["security.protocol=SASL_SSL", f"ssl.ca.location={dir / 'ca.pem'}",
            "sasl.mechanism=SCRAM-SHA-512", f"sasl.username={USER}"]


def test_agent_broker_pipeline_over_sasl_scram_in_tls(naap_bin, sasl_broker):
    brokers, dir = sasl_broker
    out, err = emit(naap_bin, brokers, dir / "spool", *scram(dir), env={"NAAP_KAFKA_SASL_PASSWORD": PASSWORD})
    spooled, delivered = counts(out)
    assert spooled >= 5 and delivered == spooled, out
    assert "first batch acknowledged" in err and "security=SASL_SSL" in err and "ERROR" not in err, err
    lake = dir / "lake"
    p = subprocess.run([naap_bin, "pipeline", "--brokers", brokers, "--topic", "naap.tls.v1", "--lake", str(lake),
                        "--stop-after-idle", "5s", "--kafka-property", "session.timeout.ms=6000",
                        *[a for p in scram(dir) for a in ("--kafka-property", p)]],
                       capture_output=True, text=True, timeout=300,
                       env={**os.environ, "NAAP_LOG": "info", "NAAP_KAFKA_SASL_PASSWORD": PASSWORD})
    assert p.returncode == 0, p.stderr[-3000:]
    assert arrow_table(lake, "node_telemetry").num_rows == spooled
    # The password is never written out, by either client.
    assert PASSWORD not in out + err + p.stdout + p.stderr


def test_a_wrong_password_is_one_clear_warning_and_the_spool_keeps_everything(naap_bin, sasl_broker):
    brokers, dir = sasl_broker
    spool = dir / "spool"
    out, err = emit(naap_bin, brokers, spool, *scram(dir), duration="2s",
                    env={"NAAP_KAFKA_SASL_PASSWORD": "not-the-password"})
    spooled, delivered = counts(out)
    assert spooled >= 3 and delivered == 0, out
    warnings = [line for line in err.splitlines() if "cannot reach the broker" in line]
    assert len(warnings) == 1 and "authentication failed" in warnings[0], err
    assert "ERROR" not in err and "not-the-password" not in out + err, err
    assert len(list(spool.glob("*.msg"))) == spooled, "the spool keeps every message"
    # With the right password, the next start delivers what the spool kept.
    out, _ = emit(naap_bin, brokers, spool, *scram(dir), duration="1s", env={"NAAP_KAFKA_SASL_PASSWORD": PASSWORD})
    assert not list(spool.glob("*.msg")), out
