"""TLS from certificate and key files: pyarrow.flight over grpc+tls and
HTTPS both trust a private CA's certificate; plain clients get nothing."""
import datetime
import ipaddress
import json
import ssl
import urllib.error
import urllib.request

import pyarrow.flight as flight
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID



def self_signed(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "naap test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    (tmp_path / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_pem


def test_flight_and_http_over_tls(serve_lake, serve_simulated_lake, tmp_path):
    cert_pem = self_signed(tmp_path)
    # A lake to serve, from the shared fixture's replay (its own server is plain).
    serve_simulated_lake()
    flight_port, http_port = serve_lake(tmp_path / "lake", "--tls-cert", str(tmp_path / "cert.pem"),
                                        "--tls-key", str(tmp_path / "key.pem"), name="serve-tls")

    client = flight.connect(f"grpc+tls://127.0.0.1:{flight_port}", tls_root_certs=cert_pem)
    assert client.do_get(flight.Ticket(b"scores")).read_all().num_rows == 4

    context = ssl.create_default_context(cadata=cert_pem.decode())
    with urllib.request.urlopen(f"https://127.0.0.1:{http_port}/v1/scores", context=context, timeout=30) as answer:
        assert len(json.load(answer)) == 4
    # Plain HTTP to the TLS port gets no answer.
    with pytest.raises(Exception):
        urllib.request.urlopen(f"http://127.0.0.1:{http_port}/healthz", timeout=5).read()
    # An untrusted client is refused by its own TLS check, and the server goes on.
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        urllib.request.urlopen(f"https://127.0.0.1:{http_port}/healthz", timeout=5)
    with urllib.request.urlopen(f"https://127.0.0.1:{http_port}/healthz", context=context, timeout=30) as answer:
        assert json.loads(answer.read())["status"] == "ok"
