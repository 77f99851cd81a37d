"""The node agent as operators install it: the Debian package, installed with
dpkg from the README's own lines, and the OCI image, run with podman.

* The README's operator-install block is run line by line as written, with
  only its capitals replaced (address, broker, key, package file). This
  machine has no systemd running (a container without an init), so the
  `systemctl enable --now` line is carried out the way the installed unit
  says: its ExecStart, with its EnvironmentFile, as an unprivileged user
  (its DynamicUser) owning /var/lib/naap-emit (its StateDirectory); the
  `journalctl` line reads that output. The unit itself passes
  `systemd-analyze verify` where it is installed.
* Then the pipeline reads the broker and the node has an `uptime` score,
  signed by its key; its first minute, started mid-minute, is whole.
* The image is loaded and run by podman with the same settings file, env
  file and spool volume; its messages reach the lake too.
"""
import os
import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import Proc, free_port, port_open, run, wait_until
from lake_readers import arrow_table

ROOT = Path(__file__).resolve().parents[2]
# A well-known test key (web3's documentation example) and its address.
KEY = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
ADDRESS = "0x2c7536e3605d9c16a7a3d7b1898e529396a65c23"
UNIT_DIRS = [Path("/lib/systemd/system"), Path("/usr/lib/systemd/system")]


def artifact(name):
    value = os.environ.get(name)
    if not value or not Path(value).exists():
        pytest.fail(f"{name} must name the built file (./test.sh builds it with deploy/)")
    return Path(value)


def readme_lines():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- operator-install:[^>]*-->\s*```sh\n(.*?)```\s*<!-- operator-install: end -->",
                      text, re.S)
    assert block, "the README's operator-install block"
    return [l for l in block.group(1).splitlines() if l.strip() and not l.lstrip().startswith("#")]


def unit_file():
    for d in UNIT_DIRS:
        if (d / "naap-emit.service").exists():
            return d / "naap-emit.service"
    pytest.fail("the package installed no naap-emit.service")


def unit_settings(path):
    settings = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            settings.setdefault(key.strip(), value.strip())
    return settings


def environment_file(path):
    env = {}
    for line in Path(path).read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            env[key.strip()] = value.strip()
    return env


@pytest.fixture
def installed():
    if os.geteuid() != 0 or not shutil.which("dpkg"):
        pytest.fail("the package test installs with dpkg as root (./test.sh runs as root on its machine)")
    yield
    subprocess.run(["dpkg", "--purge", "naap-emit"], capture_output=True)
    shutil.rmtree("/var/lib/naap-emit", ignore_errors=True)


def test_the_readme_installs_the_package_and_the_node_is_scored(naap_bin, kafka, installed, tmp_path):
    deb = artifact("NAAP_DEB")
    topic = "naap.telemetry.v1"
    journal = None
    for line in readme_lines():
        line = (line.replace("naap-emit_0.1.0-1_amd64.deb", str(deb)).replace("0xYOURADDRESS", ADDRESS)
                .replace("KAFKA:9092", kafka).replace("YOURPRIVATEKEYHEX", KEY))
        argv = shlex.split(line, comments=True)
        if argv[:2] == ["systemctl", "enable"]:
            journal = start_as_the_unit_would(tmp_path)
            continue
        if argv[0] == "journalctl":
            wait_until(lambda: "first batch acknowledged" in journal.output(), 60, "first batch acknowledged")
            started = time.time()
            continue
        done = subprocess.run(line, shell=True, capture_output=True, text=True)
        assert done.returncode == 0, (line, done.stderr)
        if argv[:2] == ["dpkg", "-i"]:
            check_the_installed_files()
    out = journal.output()
    assert f"orchestrator={ADDRESS}" in out and f'signer="{ADDRESS}"' in out and "ERROR" not in out, out
    # Run into the next minute, so that the first (partial) one is whole.
    time.sleep(max(0.0, 60 - started % 60) + 6)
    journal.stop()
    lake = tmp_path / "lake"
    run([naap_bin, "pipeline", "--brokers", kafka, "--topic", topic, "--lake", str(lake),
         "--stop-after-idle", "5s", "--finalize-at-idle", "--kafka-property", "session.timeout.ms=6000"])
    telemetry = arrow_table(lake, "node_telemetry").to_pylist()
    mine = [r for r in telemetry if r["orchestrator"] == ADDRESS]
    assert mine and all(r["verified"] and r["signer"] == ADDRESS for r in mine)
    scores = [r for r in arrow_table(lake, "scores").to_pylist() if r["orchestrator"] == ADDRESS]
    assert scores and {r["rule"] for r in scores} == {"uptime"}
    # Its first minute, started mid-minute, is judged on the time it ran:
    # promised only the heartbeats left in it, it kept that promise.
    first = min(scores, key=lambda r: r["window_start"])
    offset = started % 60
    if offset > 6:
        assert first["heartbeats_expected"] < 12, first
    assert first["heartbeats_seen"] >= first["heartbeats_expected"] - 1, first
    assert first["uptime_ratio"] >= (first["heartbeats_expected"] - 1) / first["heartbeats_expected"], first


def check_the_installed_files():
    assert Path("/usr/bin/naap-emit").stat().st_mode & 0o111
    env = Path("/etc/naap-emit/env")
    assert env.stat().st_mode & 0o777 == 0o600 and env.stat().st_uid == 0
    status = subprocess.run(["dpkg-query", "-W", "-f", "${Conffiles}", "naap-emit"], capture_output=True, text=True)
    assert "/etc/naap-emit/emitter.toml" in status.stdout and "/etc/naap-emit/env" in status.stdout
    unit = unit_file()
    verify = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
    assert verify.returncode == 0 and not verify.stderr.strip(), verify.stderr
    settings = unit_settings(unit)
    assert settings["EnvironmentFile"] == "-/etc/naap-emit/env" and settings["StateDirectory"] == "naap-emit"


def start_as_the_unit_would(tmp_path):
    """The unit's ExecStart with its EnvironmentFile, as user 65534 owning
    its StateDirectory: what systemd does on `systemctl start`."""
    settings = unit_settings(unit_file())
    state = Path("/var/lib") / settings["StateDirectory"]
    state.mkdir(exist_ok=True)
    os.chown(state, 65534, 65534)
    env = {**{k: v for k, v in os.environ.items() if k in ("PATH", "LANG")},
           **dict(e.split("=", 1) for e in [settings["Environment"]]),
           **environment_file(settings["EnvironmentFile"].lstrip("-"))}
    argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *shlex.split(settings["ExecStart"])]
    log = open(tmp_path / "journal.log", "w")

    class Journal:
        def __init__(self):
            self.p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)

        def output(self):
            log.flush()
            return (tmp_path / "journal.log").read_text()

        def stop(self):
            self.p.terminate()
            self.p.wait(30)
            log.close()

    return Journal()


def test_the_image_runs_with_podman_on_the_same_settings(naap_bin, kafka, tmp_path):
    image = artifact("NAAP_IMAGE")
    if not shutil.which("podman"):
        pytest.fail("podman is missing (./test.sh installs Debian's podman)")
    loaded = subprocess.run(["podman", "load", "-i", str(image)], capture_output=True, text=True)
    assert loaded.returncode == 0, loaded.stderr
    name = re.search(r"Loaded image(?:\(s\))?: (\S+)", loaded.stdout + loaded.stderr).group(1)
    config = subprocess.run(["podman", "image", "inspect", name, "--format",
                             "{{.Config.User}} {{.Config.Entrypoint}} {{.Config.Cmd}} {{.Config.Volumes}}"],
                            capture_output=True, text=True, check=True).stdout
    assert "65534:65534" in config and "/usr/bin/naap-emit" in config and "/var/lib/naap-emit" in config, config
    settings = tmp_path / "emitter.toml"
    settings.write_text(f'orchestrator = "{ADDRESS}"\nbrokers = "{kafka}"\ntopic = "naap.image.v1"\n'
                        'region = "eu-west"\nsigning-key-env = "NAAP_SIGNING_KEY"\nno-gpu = true\n'
                        'duration = "6s"\nheartbeat-interval = "500ms"\n')
    env = tmp_path / "env"
    env.write_text(f"NAAP_SIGNING_KEY={KEY}\n")
    env.chmod(0o600)
    volume = f"naap-emit-test-{os.getpid()}"
    # This machine's podman needs runc (crun refuses its hybrid cgroups) and
    # ulimits within the sandbox's own; an ordinary host needs neither.
    quirks = ["--runtime", "runc", "--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"]
    ran = subprocess.run(["podman", *quirks[:2], "run", "--rm", *quirks[2:], "--network", "host",
                          "-v", f"{settings}:/etc/naap-emit/emitter.toml:ro", "--env-file", str(env),
                          "-v", f"{volume}:/var/lib/naap-emit", name],
                         capture_output=True, text=True, timeout=180)
    subprocess.run(["podman", "volume", "rm", "-f", volume], capture_output=True)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert "first batch acknowledged" in ran.stderr and f'signer="{ADDRESS}"' in ran.stderr, ran.stderr
    lake = tmp_path / "lake"
    run([naap_bin, "pipeline", "--brokers", kafka, "--topic", "naap.image.v1", "--lake", str(lake),
         "--stop-after-idle", "5s", "--kafka-property", "session.timeout.ms=6000"])
    rows = [r for r in arrow_table(lake, "node_telemetry").to_pylist() if r["orchestrator"] == ADDRESS]
    assert rows and all(r["verified"] for r in rows)
