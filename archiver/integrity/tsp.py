"""RFC 3161 time-stamp requests and responses (ASN.1 via asn1crypto, no network here).

The datum stamped is a log entry's canonical encoding, so the message imprint is
simply that entry's SHA-256: ``openssl ts -verify -digest <sha256> -in <seq>.tsr``
checks a token years later without archiver.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import algos, cms, core, tsp

from archiver.errors import ArchiverError

_DIGESTS = {"sha256", "sha384", "sha512", "sha224", "sha1"}


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
    """Parse a TimeStampResp; it must be granted, carry a TSTInfo, and that TSTInfo must
    be the one its signer signed (the ``messageDigest`` attribute). The signature
    itself is checked against the TSA's certificate with ``openssl ts -verify``."""
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
        _check_signed_digest(signed, tst_der)
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


def _check_signed_digest(signed: cms.SignedData, tst_der: bytes) -> None:
    signers = signed["signer_infos"]
    if len(signers) != 1:
        raise TokenError("a time-stamp token must have exactly one signer")
    signer = signers[0]
    algorithm = signer["digest_algorithm"]["algorithm"].native
    if algorithm not in _DIGESTS:
        raise TokenError(f"unsupported digest algorithm in the token: {algorithm}")
    attributes = signer["signed_attrs"]
    digests = [a["values"][0].native for a in attributes if a["type"].native == "message_digest"]
    if len(digests) != 1:
        raise TokenError("the token's signed attributes have no single messageDigest")
    if digests[0] != hashlib.new(algorithm, tst_der).digest():
        raise TokenError("the token's TSTInfo is not the one its signer signed")


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
