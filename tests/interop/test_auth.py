"""Tokens: with a token file, Flight (pyarrow, ADBC) and HTTP refuse calls
without a token or with a wrong one; read tokens read, admin tokens also see
raw quarantined messages. Without a file, the server is public and read-only."""
import hashlib
import json
import urllib.error
import urllib.request
from pathlib import Path

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow.flight as flight
import pytest

from conftest import run

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "livepeer" / "gateway-events-sample.ndjson"
READ, ADMIN = "r-3b1f0c9e", "a-77d2e4aa"


def sha(token):
    return hashlib.sha256(token.encode()).hexdigest()


def http(url, token=None):
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


@pytest.fixture
def lake(naap_bin, tmp_path):
    lake = tmp_path / "lake"
    messages = tmp_path / "in.naapmsg"
    run([naap_bin, "emit", "--simulate", "4", "--from", "2026-01-08T21:00:00Z", "--span", "3m",
         "--output", str(messages)])
    run([naap_bin, "replay", "--input", str(messages), "--lake", str(lake)])
    bad = tmp_path / "bad.ndjson"
    bad.write_text(SAMPLE.read_text() + "{not json\n")
    run([naap_bin, "replay", "--input", str(bad), "--format", "livepeer-json", "--lake", str(lake)])
    return lake


def serve(serve_lake, lake, *flags):
    flight_port, http_port = serve_lake(lake, *flags)
    return f"grpc://127.0.0.1:{flight_port}", f"http://127.0.0.1:{http_port}"


def test_tokens_guard_flight_and_http(serve_lake, lake, tmp_path):
    tokens = tmp_path / "tokens.toml"
    tokens.write_text(
        "public_read = false\n"
        f'[[tokens]]\nname = "gateway-fra"\nsha256 = "{sha(READ)}"\nrole = "read"\n'
        f'[[tokens]]\nname = "ops"\nsha256 = "{sha(ADMIN)}"\nrole = "admin"\n')
    grpc, base = serve(serve_lake, lake, "--auth-file", str(tokens))

    client = flight.connect(grpc)
    with pytest.raises(flight.FlightUnauthenticatedError):
        client.do_get(flight.Ticket(b"scores")).read_all()
    wrong = flight.FlightCallOptions(headers=[(b"authorization", b"Bearer nope")])
    with pytest.raises(flight.FlightUnauthenticatedError):
        client.do_get(flight.Ticket(b"scores"), wrong).read_all()
    with pytest.raises(flight.FlightUnauthenticatedError):
        client.authenticate_basic_token("gateway", "nope")
    # The handshake turns the token into the bearer header for later calls.
    header = client.authenticate_basic_token("gateway", READ)
    assert header == (b"authorization", f"Bearer {READ}".encode())
    table = client.do_get(flight.Ticket(b"scores"), flight.FlightCallOptions(headers=[header])).read_all()
    assert table.num_rows == 4  # the latest uptime score of each simulated orchestrator
    with flightsql.connect(grpc, db_kwargs={"adbc.flight.sql.authorization_header": f"Bearer {READ}"}) as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM scores")
            assert cur.fetchall() == [(table.num_rows,)]
            with pytest.raises(Exception, match="quarantine"):
                cur.execute("SELECT count(*) FROM quarantine")
    with flightsql.connect(grpc, db_kwargs={"adbc.flight.sql.authorization_header": f"Bearer {ADMIN}"}) as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT reason, count(*) FROM quarantine GROUP BY reason")
            assert cur.fetchall() == [("malformed_json", 1)]

    assert http(f"{base}/v1/scores")[0] == 401
    assert http(f"{base}/v1/scores", "nope")[0] == 401
    status, rows = http(f"{base}/v1/scores", READ)
    assert status == 200 and len(rows) == table.num_rows
    status, summary = http(f"{base}/v1/quarantine", READ)
    assert status == 200 and summary["quarantined"] == 1
    status, body = http(f"{base}/v1/quarantine/recent", READ)
    assert status == 403 and "admin" in body["error"]
    status, recent = http(f"{base}/v1/quarantine/recent", ADMIN)
    assert status == 200 and [r["reason"] for r in recent] == ["malformed_json"]


def test_without_a_token_file_reads_are_public_and_admin_is_closed(serve_lake, lake):
    grpc, base = serve(serve_lake, lake)
    assert flight.connect(grpc).do_get(flight.Ticket(b"scores")).read_all().num_rows > 0
    assert http(f"{base}/v1/scores")[0] == 200
    assert http(f"{base}/v1/quarantine")[0] == 200
    status, body = http(f"{base}/v1/quarantine/recent")
    assert status == 403, body
    with flightsql.connect(grpc) as conn, conn.cursor() as cur:
        with pytest.raises(Exception, match="quarantine"):
            cur.execute("SELECT count(*) FROM quarantine")
