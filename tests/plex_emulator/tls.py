"""TLS for the emulator: throwaway certificates, a test CA, and the handshake.

Real servers present either a self-signed certificate or a `*.<hash>.plex.direct`
one signed by a public CA; `CertificateAuthority` stands in for the latter so
tests can exercise hostname verification without touching the network.
"""

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
import ipaddress
from pathlib import Path
import ssl
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Wide validity: tests freeze "now" away from the clock OpenSSL checks.
VALIDITY = timedelta(days=365)
LEAF_COMMON_NAME = "Plex Media Server emulator"


def _new_key() -> ec.EllipticCurvePrivateKey:
    """EC keys are generated in microseconds, unlike RSA ones."""
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """Serialise a private key the way ssl.load_cert_chain reads it."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(common_name: str) -> x509.Name:
    """A distinguished name with only a common name, as test certificates need."""
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(
    subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    """Start a certificate valid around now, whatever a test froze the clock at."""
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - VALIDITY)
        .not_valid_after(now + VALIDITY)
    )


def _alt_names(
    dns_names: Sequence[str], ip_addresses: Sequence[str]
) -> x509.SubjectAlternativeName:
    """Hostname checks only look at these, never at the common name."""
    names: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    return x509.SubjectAlternativeName(names)


def _pem(certificate: x509.Certificate) -> bytes:
    """Serialise a certificate for ssl contexts and for callers."""
    return certificate.public_bytes(serialization.Encoding.PEM)


def self_signed_pem() -> tuple[bytes, bytes]:
    """Make a throwaway certificate for 127.0.0.1/localhost, as a fresh PMS has."""
    key = _new_key()
    name = _name("localhost")
    certificate = (
        _builder(name, name, key.public_key())
        .add_extension(_alt_names(["localhost"], ["127.0.0.1"]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _pem(certificate), _key_pem(key)


# cryptography remembers the datetime class of its first certificate: make that
# the real one now, before a test freezes time with a datetime subclass.
self_signed_pem()


class CertificateAuthority:
    """A private CA that issues server certificates, like plex.direct's issuer.

    Trust `certificate_pem` in a client context, give the emulator a pair from
    `issue()` (set its `certificate_pem` and `key_pem` before start()).
    """

    def __init__(self, common_name: str = "Plex emulator test CA") -> None:
        """Create the CA key and its self-signed certificate."""
        self._key = _new_key()
        self._name = _name(common_name)
        public_key = self._key.public_key()
        usage = x509.KeyUsage(
            digital_signature=False,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=True,
            crl_sign=True,
            encipher_only=False,
            decipher_only=False,
        )
        certificate = (
            _builder(self._name, self._name, public_key)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(usage, critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False
            )
            .sign(self._key, hashes.SHA256())
        )
        self.certificate_pem: bytes = _pem(certificate)

    def issue(
        self, dns_names: Sequence[str] = (), ip_addresses: Sequence[str] = ()
    ) -> tuple[bytes, bytes]:
        """Return (certificate_pem, key_pem) of a server certificate for these names.

        Wildcards such as "*.0123abcd.plex.direct" match one leftmost label, as
        Python's ssl module checks them. At least one name or address is needed.
        """
        if not dns_names and not ip_addresses:
            raise ValueError("a server certificate needs a DNS name or an IP address")
        key = _new_key()
        usage = x509.KeyUsage(
            digital_signature=True,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=False,
            crl_sign=False,
            encipher_only=False,
            decipher_only=False,
        )
        server_auth = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])
        authority = x509.AuthorityKeyIdentifier.from_issuer_public_key(
            self._key.public_key()
        )
        certificate = (
            _builder(_name(LEAF_COMMON_NAME), self._name, key.public_key())
            .add_extension(_alt_names(dns_names, ip_addresses), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
            .add_extension(usage, critical=True)
            .add_extension(server_auth, critical=False)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False
            )
            .add_extension(authority, critical=False)
            .sign(self._key, hashes.SHA256())
        )
        return _pem(certificate), _key_pem(key)


def server_ssl_context(certificate_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
    """Load the PEMs; the ssl module only reads them from files."""
    if not key_pem:
        raise ValueError("certificate_pem is set but key_pem is empty")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as directory:
        cert_file, key_file = Path(directory, "cert.pem"), Path(directory, "key.pem")
        cert_file.write_bytes(certificate_pem)
        key_file.write_bytes(key_pem)
        context.load_cert_chain(cert_file, key_file)
    return context


class TlsAcceptor(asyncio.Protocol):
    """Run the TLS handshake of one connection ourselves.

    When the loop does it, a client that refuses the certificate makes a debug
    loop (as Home Assistant tests run) report an error that fails the test; here
    a failed handshake only closes that connection, as on a real server.
    """

    def __init__(
        self,
        factory: Callable[[], asyncio.BaseProtocol],
        context: ssl.SSLContext,
        tasks: set[asyncio.Task[None]],
    ) -> None:
        """Remember what to hand the connection to once it is encrypted."""
        self._factory, self._context, self._tasks = factory, context, tasks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Start the handshake; the task is kept so that stop() can cancel it."""
        assert isinstance(transport, asyncio.Transport)
        transport.pause_reading()
        task = asyncio.get_running_loop().create_task(self._handshake(transport))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handshake(self, transport: asyncio.Transport) -> None:
        """Hand the encrypted transport to the HTTP protocol, or drop it."""
        protocol = self._factory()
        loop = asyncio.get_running_loop()
        try:
            tls = await loop.start_tls(
                transport, protocol, self._context, server_side=True
            )
        except OSError:  # includes ssl.SSLError and handshake timeouts
            transport.abort()
            return
        if tls is not None:
            protocol.connection_made(tls)
