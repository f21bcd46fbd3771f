"""SMPP over TLS: a TLS-terminating proxy with a private CA in front of the simulator."""
from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from dashboard.extensions import db
from dashboard.models import BindStatus, Message
from dashboard.models.types import utcnow
from dashboard.services.sending.enqueue import enqueue
from tests.conftest import numbers, wait_for


def _certificate(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "switchboard test smsc")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "smsc.pem", tmp_path / "smsc.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


class TlsProxy:
    """Accepts TLS, forwards the plain bytes to the simulator, both ways."""

    def __init__(self, cert_file, key_file, upstream_port: int):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert_file, key_file)
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                raw, _ = self.listener.accept()
                client = self.context.wrap_socket(raw, server_side=True)
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            self.sockets += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass

    def close(self):
        self.listener.close()
        for s in self.sockets:
            try:
                s.close()
            except OSError:
                pass


@pytest.fixture
def tls_proxy(tmp_path, simulator):
    cert_file, key_file = _certificate(tmp_path)
    proxy = TlsProxy(cert_file, key_file, simulator.port)
    yield proxy, cert_file
    proxy.close()


def _bind_over(proxy, make_bind, simulator, name):
    bind = make_bind(simulator, name=name, use_tls=True)
    bind.port = proxy.port
    db.session.commit()
    return bind


def test_a_tls_bind_trusting_the_carriers_ca_delivers(app, tls_proxy, simulator, make_bind, worker, sender):
    proxy, cert_file = tls_proxy
    app.config["SMPP_TLS_CA_FILE"] = str(cert_file)
    _bind_over(proxy, make_bind, simulator, "tls")
    [message] = enqueue(destinations=numbers(1), text="over TLS", source="Switchboard", now=utcnow())
    worker()
    wait_for(lambda: (db.session.expire_all(), db.session.get(Message, message.id).status)[1] == "delivered",
             message="delivered over TLS")
    assert [m.text for m in simulator.messages()] == ["over TLS"]


def test_a_tls_bind_refuses_a_certificate_it_does_not_trust_and_says_so(app, tls_proxy, simulator, make_bind, worker):
    proxy, _ = tls_proxy
    bind = _bind_over(proxy, make_bind, simulator, "untrusted")
    worker()
    wait_for(lambda: (db.session.expire_all(), getattr(db.session.get(BindStatus, bind.id), "state", None))[1]
             == "backing_off", message="bind refused")
    status = db.session.get(BindStatus, bind.id)
    assert "TLS handshake" in status.last_error and "CERTIFICATE_VERIFY_FAILED" in status.last_error
    assert simulator.submit_count() == 0
