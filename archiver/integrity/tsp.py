"""RFC 3161 time-stamp requests and responses (ASN.1 via asn1crypto, no network here).

The datum stamped is a log entry's canonical encoding, so the message imprint is
simply that entry's SHA-256: ``openssl ts -verify -digest <sha256> -in <seq>.tsr``
checks a token years later without archiver.

A token is accepted only if its signer's signature holds under the certificate the
token itself carries, and that certificate is a time-stamping one (critical extended
key usage ``timeStamping``). Whether that certificate is one to trust (its chain to a
CA) is the relying party's decision, made with ``openssl ts -verify -CAfile``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import algos, cms, core, tsp, x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from archiver.errors import ArchiverError

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


class _Response(core.Sequence):  # type: ignore[misc]
    """TimeStampResp as RFC 3161 defines it: a refusal carries no token (asn1crypto's
    own class requires one)."""

    _fields = [  # noqa: RUF012 (asn1crypto's declaration style)
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


class TokenError(ArchiverError):
    """A time-stamp response is malformed, refused, or does not stamp what it should."""


@dataclass(frozen=True)
class Token:
    """What a granted response says (the DER itself is what gets stored)."""

    gen_time: datetime
    serial_number: int
    nonce: int | None
    policy: str
    hash_algorithm: str
    hashed_message: bytes
    tsa: str | None


def build_request(digest: bytes, nonce: int) -> bytes:
    """A DER TimeStampReq for a SHA-256 digest, asking for the TSA's certificate."""
    request = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": tsp.MessageImprint(
                {
                    "hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
                    "hashed_message": digest,
                }
            ),
            "nonce": nonce,
            "cert_req": True,
        }
    )
    return bytes(request.dump())


def parse_token(data: bytes) -> Token:
    """Parse a TimeStampResp; it must be granted and carry a TSTInfo, that TSTInfo must
    be the one its signer signed (the ``messageDigest`` attribute), and the signature
    over the signed attributes must hold under the signer certificate the token
    carries, a certificate for time-stamping. The certificate's chain to a trusted
    CA is not checked here (``openssl ts -verify -CAfile`` does that)."""
    try:
        response = _Response.load(data)
        status = response["status"]
        granted = status["status"].native
        if granted not in ("granted", "granted_with_mods"):
            said = status["status_string"].native if status["status_string"] else None
            reason = f"{granted}: {'; '.join(said)}" if said else str(granted)
            raise TokenError(f"the time-stamping authority refused the request ({reason})")
        token = response["time_stamp_token"]
        if not token:
            raise TokenError("the time-stamp response grants but holds no token")
        if token["content_type"].native != "signed_data":
            raise TokenError("the time-stamp token is not CMS SignedData")
        signed = token["content"]
        encap = signed["encap_content_info"]
        if encap["content_type"].native != "tst_info":
            raise TokenError("the time-stamp token does not hold a TSTInfo")
        tst_der = bytes(encap["content"].contents)
        info = tsp.TSTInfo.load(tst_der)
        signer = _check_signed_digest(signed, tst_der)
        _check_signature(signed, signer)
        imprint = info["message_imprint"]
        tsa = info["tsa"]
        return Token(
            gen_time=info["gen_time"].native,
            serial_number=int(info["serial_number"].native),
            nonce=info["nonce"].native,
            policy=str(info["policy"].native),
            hash_algorithm=str(imprint["hash_algorithm"]["algorithm"].native),
            hashed_message=bytes(imprint["hashed_message"].native),
            tsa=str(tsa.chosen.native) if tsa and tsa.chosen is not None else None,
        )
    except TokenError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise TokenError(f"not a valid RFC 3161 time-stamp response ({exc})") from None


def _check_signed_digest(signed: cms.SignedData, tst_der: bytes) -> cms.SignerInfo:
    signers = signed["signer_infos"]
    if len(signers) != 1:
        raise TokenError("a time-stamp token must have exactly one signer")
    signer: cms.SignerInfo = signers[0]
    algorithm = signer["digest_algorithm"]["algorithm"].native
    if algorithm not in _HASHES:
        raise TokenError(f"unsupported digest algorithm in the token: {algorithm}")
    attributes = signer["signed_attrs"]
    if not attributes:
        raise TokenError("the token's signer has no signed attributes")
    values = {
        name: [a["values"][0].native for a in attributes if a["type"].native == name]
        for name in ("message_digest", "content_type")
    }
    if values["content_type"] != ["tst_info"]:
        raise TokenError("the token's signed attributes do not name TSTInfo as the content")
    digests = values["message_digest"]
    if len(digests) != 1:
        raise TokenError("the token's signed attributes have no single messageDigest")
    if digests[0] != hashlib.new(algorithm, tst_der).digest():
        raise TokenError("the token's TSTInfo is not the one its signer signed")
    return signer


def _check_signature(signed: cms.SignedData, signer: cms.SignerInfo) -> None:
    """The signer's signature over its signed attributes holds under the embedded
    certificate the SignerInfo names, and that certificate is for time-stamping."""
    certificate = _signer_certificate(signed, signer)
    _check_time_stamping_usage(certificate)
    try:
        key = serialization.load_der_public_key(certificate.public_key.dump())
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise TokenError(f"cannot read the signer certificate's public key ({exc})") from None
    digest_name = signer["digest_algorithm"]["algorithm"].native
    algorithm = signer["signature_algorithm"]
    named = algorithm["algorithm"].native
    try:
        kind = algorithm.signature_algo
        # rsaEncryption and plain ecdsa name no hash: the SignerInfo's digest algorithm's
        hash_name = digest_name if named in ("rsassa_pkcs1v15", "ecdsa") else algorithm.hash_algo
    except ValueError:
        kind, hash_name = None, None
    if kind not in ("rsassa_pkcs1v15", "rsassa_pss", "ecdsa"):
        raise TokenError(f"unsupported signature algorithm in the token: {named}")
    if hash_name != digest_name:
        raise TokenError(
            f"the token's signature hash ({hash_name}) is not its digest algorithm ({digest_name})"
        )
    chosen = _HASHES[digest_name]()
    # CMS signs the DER of the signed attributes as a SET OF, not as the [0] they are sent in
    body = bytes(signer["signed_attrs"].contents)
    message = b"\x31" + _der_length(len(body)) + body
    signature = bytes(signer["signature"].native)
    try:
        if kind == "rsassa_pkcs1v15" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, message, padding.PKCS1v15(), chosen)
        elif kind == "rsassa_pss" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, message, _pss_padding(algorithm["parameters"]), chosen)
        elif kind == "ecdsa" and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, message, ec.ECDSA(chosen))
        else:
            raise TokenError(
                f"unsupported signature algorithm in the token: {named}"
                f" with a {certificate.public_key.algorithm} key"
            )
    except InvalidSignature:
        raise TokenError(
            "the token's signature does not verify with its signer certificate"
            " (altered in transit, or not signed by that TSA)"
        ) from None


def _signer_certificate(signed: cms.SignedData, signer: cms.SignerInfo) -> x509.Certificate:
    certificates = signed["certificates"]
    if not certificates:
        raise TokenError(
            "the time-stamp token carries no signer certificate (it was requested): "
            "its signature cannot be checked"
        )
    sid = signer["sid"]
    for choice in certificates:
        if choice.name != "certificate":
            continue
        certificate: x509.Certificate = choice.chosen
        if sid.name == "issuer_and_serial_number":
            wanted = sid.chosen
            matches = (
                certificate.serial_number == wanted["serial_number"].native
                and certificate.issuer == wanted["issuer"]
            )
        else:  # subject_key_identifier
            matches = certificate.key_identifier == sid.chosen.native
        if matches:
            return certificate
    raise TokenError("none of the token's certificates is its signer's (by the SignerInfo's sid)")


def _check_time_stamping_usage(certificate: x509.Certificate) -> None:
    """RFC 3161 2.3: the TSA's certificate has the extended key usage timeStamping
    alone, marked critical (as ``openssl ts -verify`` requires)."""
    usage = certificate.extended_key_usage_value
    purposes = usage.native if usage else []
    if "time_stamping" not in purposes:
        raise TokenError("the token's signer certificate is not for time-stamping (no EKU)")
    if len(purposes) != 1 or "extended_key_usage" not in certificate.critical_extensions:
        raise TokenError(
            "the token's signer certificate's timeStamping extended key usage must be "
            "its only one and critical (RFC 3161)"
        )


def _pss_padding(parameters: algos.RSASSAPSSParams) -> padding.PSS:
    mask = parameters["mask_gen_algorithm"]
    mask_hash = mask["parameters"]["algorithm"].native
    if mask["algorithm"].native != "mgf1" or mask_hash not in _HASHES:
        raise TokenError("unsupported RSA-PSS mask generation in the token")
    if parameters["trailer_field"].native != "trailer_field_bc":
        raise TokenError("unsupported RSA-PSS trailer field in the token")
    return padding.PSS(
        mgf=padding.MGF1(_HASHES[mask_hash]()), salt_length=int(parameters["salt_length"].native)
    )


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets


def imprint_problem(token: Token, digest: bytes) -> str | None:
    """Why the token does not stamp ``digest`` (a SHA-256), or None."""
    if token.hash_algorithm != "sha256":
        return f"stamps a {token.hash_algorithm} imprint, not sha256"
    if token.hashed_message != digest:
        return "the stamped imprint is not the entry's sha256: the chain was altered"
    return None


def check_reply(token: Token, digest: bytes, nonce: int) -> None:
    """A fresh reply must stamp what we asked, with our nonce (no replayed token)."""
    if token.hash_algorithm != "sha256" or token.hashed_message != digest:
        raise TokenError("the time-stamp reply stamps another imprint than the one requested")
    if token.nonce != nonce:
        raise TokenError("the time-stamp reply's nonce does not match the request's")
