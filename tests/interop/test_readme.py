"""README's "query the lake directly" examples run as written, over a lake
replayed into ./naap-data (what `cargo run -- demo` leaves)."""
import pathlib
import re
import subprocess
import sys

from conftest import run

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def example(name):
    text = README.read_text()
    match = re.search(rf"<!-- readme-example: {name} -->\n```python\n(.*?)```", text, re.S)
    assert match, f"README has no example marked {name}"
    return match.group(1)


def test_query_the_lake_directly_examples_run_as_written(naap_bin, tmp_path):
    messages = tmp_path / "in.naapmsg"
    run([naap_bin, "emit", "--simulate", "4", "--from", "2026-01-08T21:00:00Z", "--span", "20m",
         "--output", str(messages)])
    run([naap_bin, "replay", "--input", str(messages), "--lake", str(tmp_path / "naap-data")])
    code = example("lake")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    version, rows = map(int, lines[0].split())
    assert version >= 1 and rows > 0, lines[0]
    assert int(lines[1]) > 0, "time travel to version 1 reads its rows"
    assert "orchestrator" in done.stdout and "heartbeats" in done.stdout, done.stdout
    assert "avg(score)" in done.stdout, done.stdout
