"""An HTTPS server on 127.0.0.1 for the update pull tests: a CA and a server certificate
made per test run with `cryptography`, and a handler serving one package with Range
requests, able to drop the connection after a given number of body bytes; and a tarpit
that accepts connections and answers a byte at a time, never finishing a TLS handshake;
and a black hole whose connects never complete."""
import datetime
import http.server
import ipaddress
import os
import socket
import ssl
import threading
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca(cn="update test CA"):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn)).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def server_cert(ca_key, ca_cert, host="127.0.0.1", name=None):
    """A certificate for the address host and, when given, the DNS name too."""
    key = ec.generate_private_key(ec.SECP256R1())
    alt = [x509.IPAddress(ipaddress.ip_address(host))] + ([x509.DNSName(name)] if name else [])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(_name(host)).issuer_name(ca_cert.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


class PackageServer:
    """Serves `package` at /pkg over HTTPS on 127.0.0.1 (a free port); records the Range
    header of every request; drop_after=N closes the connection after N body bytes, once;
    headers: more (name, value) header lines for every answer; every: seconds between two
    1 KB pieces of the body (a slow server), or 0; name: a DNS name its certificate and
    url give (a name server must point it at 127.0.0.1: dns_server.py)."""

    def __init__(self, package, tmpdir, ca=None, name=None):
        self.package = package
        self.ranges = []
        self.drop_after = None
        self.headers = []
        self.every = 0
        self.ca_key, self.ca_cert = ca or make_ca()
        key, cert = server_cert(self.ca_key, self.ca_cert, name=name)
        self.name = name
        cert_file = os.path.join(tmpdir, "server.pem")
        with open(cert_file, "wb") as f:
            f.write(pem(cert) + key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert_file)
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path != "/pkg":
                    self.send_error(404)
                    return
                rng = self.headers.get("Range")
                outer.ranges.append(rng)
                data = outer.package
                start = 0
                if rng and rng.startswith("bytes=") and rng.endswith("-"):
                    start = int(rng[6:-1])
                if start:
                    self.send_response(206)
                    self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                for name, value in outer.headers:
                    self.send_header(name, value)
                self.end_headers()
                if outer.drop_after is not None:
                    body, outer.drop_after = body[: outer.drop_after], None
                for i in range(0, len(body), 1024 if outer.every else max(len(body), 1)):
                    self.wfile.write(body[i : i + 1024] if outer.every else body)
                    self.wfile.flush()
                    time.sleep(outer.every)
                self.close_connection = True

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.url = "https://%s:%d/pkg" % (self.name or "127.0.0.1", self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def ca_pem(self):
        return pem(self.ca_cert)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Tarpit:
    """Accepts TCP connections on 127.0.0.1 (a free port) and sends each, one byte every
    `every` seconds, the start of a TLS record that never ends: a client waiting for the
    server's handshake waits for ever. .connected is set at the first connection."""

    RECORD = b"\x16\x03\x03\x40\x00"  # a handshake record of 16 KB, then never more than a byte at a time

    def __init__(self, every=1.0):
        self.every = every
        self.connected = threading.Event()
        self.closed = False
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)  # the accepting thread sees close() soon
        self.url = "https://127.0.0.1:%d/pkg" % self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.connected.set()
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn):
        with conn:
            for i in range(100000):
                if self.closed:
                    return
                try:
                    conn.sendall(self.RECORD[i : i + 1] or b"\x00")
                except OSError:
                    return
                time.sleep(self.every)

    def close(self):
        self.closed = True
        self.sock.close()


class Blackhole:
    """A listener on 127.0.0.1 (a free port) that accepts nothing, its queue (of one, as
    listen(0) makes it) filled by a connection of its own: Linux then drops every SYN to it, so a connect to it stays in
    progress (SYN_SENT) until the client gives up or closes its socket."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self.url = "https://127.0.0.1:%d/pkg" % self.port
        self.filler = socket.create_connection(("127.0.0.1", self.port), timeout=2)

    def connecting(self):
        """How many sockets are connecting to it now (SYN_SENT in /proc/net/tcp)."""
        n = 0
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                fields = line.split()
                if int(fields[2].split(":")[1], 16) == self.port and fields[3] == "02":
                    n += 1
        return n

    def close(self):
        self.filler.close()
        self.sock.close()
