"""A real RFC 3161 time-stamping authority on loopback, signing with a throwaway key.

A throwaway CA, the TSA's key and its certificate (extended key usage:
timeStamping) are made when the TSA starts. Replies are genuine CMS SignedData tokens (ECDSA P-256, SHA-256,
ESSCertIDv2), so ``openssl ts -verify`` accepts them with the throwaway CA's
certificate as the trust anchor.
``mode`` makes it misbehave the ways a TSA or a network can.

    with LocalTSA() as tsa:
        timestamp_head(archive, tsa.url)
        verify_signature(token_bytes, tsa)
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Literal

from asn1crypto import algos, cms, core, tsp, x509
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

Mode = Literal["grant", "reject", "wrong_nonce", "wrong_imprint", "garbage", "http_error"]
POLICY = "1.3.6.1.4.1.55555.1.1"  # a private-arc OID for the test TSA's policy


class _Refusal(core.Sequence):
    """A TimeStampResp without a token (asn1crypto's class insists on one)."""

    _fields = [("status", tsp.PKIStatusInfo)]  # noqa: RUF012 (asn1crypto's declaration style)


def _name(common_name: str) -> cx509.Name:
    return cx509.Name([cx509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_usage(*, sign: bool, certify: bool) -> cx509.KeyUsage:
    return cx509.KeyUsage(
        digital_signature=sign,
        content_commitment=sign,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=certify,
        crl_sign=certify,
        encipher_only=False,
        decipher_only=False,
    )


def _make_certificates(
    ca_key: ec.EllipticCurvePrivateKey, key: ec.EllipticCurvePrivateKey
) -> tuple[cx509.Certificate, cx509.Certificate]:
    """A throwaway CA, and the TSA's certificate it issues (critical EKU timeStamping)."""
    now = datetime.now(UTC)
    valid = {"not_before": now - timedelta(minutes=5), "not_after": now + timedelta(days=1)}
    ca = (
        cx509.CertificateBuilder()
        .subject_name(_name("archiver test CA"))
        .issuer_name(_name("archiver test CA"))
        .public_key(ca_key.public_key())
        .serial_number(cx509.random_serial_number())
        .not_valid_before(valid["not_before"])
        .not_valid_after(valid["not_after"])
        .add_extension(cx509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(sign=False, certify=True), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    tsa = (
        cx509.CertificateBuilder()
        .subject_name(_name("archiver test TSA"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(cx509.random_serial_number())
        .not_valid_before(valid["not_before"])
        .not_valid_after(valid["not_after"])
        .add_extension(cx509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(sign=True, certify=False), critical=True)
        .add_extension(cx509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    return ca, tsa


class LocalTSA:
    """An HTTP server answering ``application/timestamp-query`` POSTs."""

    def __init__(self, mode: Mode = "grant") -> None:
        self.mode: Mode = mode
        self.clock = timedelta(0)  # how far the TSA's clock is from ours
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.ca, self.certificate = _make_certificates(
            ec.generate_private_key(ec.SECP256R1()), self.key
        )
        self.certificate_der = self.certificate.public_bytes(serialization.Encoding.DER)
        self.requests: list[tsp.TimeStampReq] = []
        self.user_agents: list[str | None] = []
        self._serials = itertools.count(1)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/tsa"

    def ca_pem(self) -> bytes:
        """The trust anchor a relying party would be given (``openssl ts -CAfile``)."""
        return self.ca.public_bytes(serialization.Encoding.PEM)

    def __enter__(self) -> LocalTSA:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        tsa = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                tsa.user_agents.append(self.headers.get("User-Agent"))
                if tsa.mode == "http_error":
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                reply = tsa.answer(body, self.headers.get("Content-Type", ""))
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        return Handler

    # ---- RFC 3161 ------------------------------------------------------------------------

    def answer(self, body: bytes, content_type: str) -> bytes:
        if self.mode == "garbage":
            return b"this is not DER"
        if content_type != "application/timestamp-query":
            return self._refusal("bad content type")
        try:
            request = tsp.TimeStampReq.load(body)
            request.native  # noqa: B018 (parses fully: a malformed request fails here)
        except ValueError:
            return self._refusal("malformed request")
        self.requests.append(request)
        if self.mode == "reject":
            return self._refusal("policy says no")
        imprint = request["message_imprint"]
        if self.mode == "wrong_imprint":
            imprint = tsp.MessageImprint(
                {
                    "hash_algorithm": {"algorithm": "sha256"},
                    "hashed_message": hashlib.sha256(b"something else").digest(),
                }
            )
        nonce = request["nonce"].native
        if self.mode == "wrong_nonce" and nonce is not None:
            nonce += 1
        token = self._token(imprint, nonce, include_certificate=bool(request["cert_req"].native))
        return bytes(
            tsp.TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": token}).dump()
        )

    def _refusal(self, why: str) -> bytes:
        status = tsp.PKIStatusInfo(
            {"status": "rejection", "status_string": [why], "fail_info": {"bad_request"}}
        )
        return bytes(_Refusal({"status": status}).dump())

    def _token(
        self, imprint: tsp.MessageImprint, nonce: int | None, *, include_certificate: bool
    ) -> cms.ContentInfo:
        info = {
            "version": "v1",
            "policy": POLICY,
            "message_imprint": imprint,
            "serial_number": next(self._serials),
            "gen_time": (datetime.now(UTC) + self.clock).replace(microsecond=0),
            "accuracy": {"seconds": 1},
            "ordering": False,
        }
        if nonce is not None:
            info["nonce"] = nonce
        tst_info = tsp.TSTInfo(info)
        tst_der = tst_info.dump()
        certificate = x509.Certificate.load(self.certificate_der)
        signed_attrs = cms.CMSAttributes(
            [
                cms.CMSAttribute({"type": "content_type", "values": ["tst_info"]}),
                cms.CMSAttribute(
                    {"type": "message_digest", "values": [hashlib.sha256(tst_der).digest()]}
                ),
                cms.CMSAttribute(
                    {
                        "type": "signing_certificate_v2",
                        "values": [
                            tsp.SigningCertificateV2(
                                {
                                    "certs": [
                                        tsp.ESSCertIDv2(
                                            {
                                                "hash_algorithm": {"algorithm": "sha256"},
                                                "cert_hash": hashlib.sha256(
                                                    self.certificate_der
                                                ).digest(),
                                            }
                                        )
                                    ]
                                }
                            )
                        ],
                    }
                ),
            ]
        )
        signature = self.key.sign(signed_attrs.dump(), ec.ECDSA(hashes.SHA256()))
        signer = cms.SignerInfo(
            {
                "version": "v1",
                "sid": cms.SignerIdentifier(
                    {
                        "issuer_and_serial_number": cms.IssuerAndSerialNumber(
                            {
                                "issuer": certificate.issuer,
                                "serial_number": certificate.serial_number,
                            }
                        )
                    }
                ),
                "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
                "signed_attrs": signed_attrs,
                "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}),
                "signature": signature,
            }
        )
        signed_data = {
            "version": "v3",
            "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
            "encap_content_info": {
                "content_type": "tst_info",
                "content": core.ParsableOctetString(tst_der),
            },
            "signer_infos": [signer],
        }
        if include_certificate:
            signed_data["certificates"] = [certificate]
        return cms.ContentInfo(
            {"content_type": "signed_data", "content": cms.SignedData(signed_data)}
        )


def verify_signature(reply: bytes, tsa: LocalTSA) -> datetime:
    """Check a stored reply the way a relying party would: the signer's certificate is
    the TSA's and was issued by the CA, the signed attributes name the TSTInfo's
    digest and that certificate, and the ECDSA signature over them holds. Returns the
    stamped time."""
    certificate = tsa.certificate
    ca_key = tsa.ca.public_key()
    assert isinstance(ca_key, ec.EllipticCurvePublicKey)
    ca_key.verify(
        certificate.signature,
        certificate.tbs_certificate_bytes,
        ec.ECDSA(hashes.SHA256()),
    )
    token = tsp.TimeStampResp.load(reply)["time_stamp_token"]
    signed = token["content"]
    tst_der = bytes(signed["encap_content_info"]["content"].contents)
    signer = signed["signer_infos"][0]
    attributes = {a["type"].native: a["values"][0] for a in signer["signed_attrs"]}
    assert attributes["message_digest"].native == hashlib.sha256(tst_der).digest()
    der = certificate.public_bytes(serialization.Encoding.DER)
    cert_id = attributes["signing_certificate_v2"]["certs"][0]
    assert cert_id["cert_hash"].native == hashlib.sha256(der).digest()
    embedded = [c.chosen.dump() for c in signed["certificates"]]
    assert der in embedded
    public_key = certificate.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(  # raises InvalidSignature
        bytes(signer["signature"].native),
        signer["signed_attrs"].untag().dump(),
        ec.ECDSA(hashes.SHA256()),
    )
    gen_time: datetime = tsp.TSTInfo.load(tst_der)["gen_time"].native
    return gen_time
