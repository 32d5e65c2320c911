"""RFC 3161 anchoring of the log head, against a real local time-stamping authority."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from asn1crypto import algos, cms
from asn1crypto import tsp as asn1_tsp
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy import select, text
from support.archiving import make_config
from support.tsa import LocalTSA, verify_signature

from archiver import PRODUCT
from archiver.archive import Archive
from archiver.errors import ArchiverError
from archiver.index.models import Event
from archiver.integrity import eventlog
from archiver.integrity.eventlog import log_path, record, verify_chain
from archiver.integrity.timestamp import TimestampError, timestamp_due, timestamp_head
from archiver.integrity.tsp import TokenError, build_request


@pytest.fixture
def archive(tmp_path: Path) -> Any:
    with Archive.open(make_config(tmp_path / "storage")) as opened:
        yield opened


@pytest.fixture(scope="module")
def tsa() -> Any:
    with LocalTSA() as server:
        yield server


def fill(archive: Archive, count: int) -> None:
    for i in range(count):
        record(archive, "sighting", {"n": i})


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def test_head_is_stamped_signed_stored_and_logged(
    archive: Archive, tsa: LocalTSA, tmp_path: Path
) -> None:
    fill(archive, 3)
    before = datetime.now(UTC).replace(microsecond=0)
    token = timestamp_head(archive, tsa.url)

    head_line = json.loads(log_path(archive.layout).read_bytes().splitlines()[2])
    assert (token.seq, token.sha256) == (3, head_line["sha256"])
    assert token.path == archive.layout.root / "log" / "timestamps" / "3.tsr"
    request = tsa.requests[-1]
    assert request["message_imprint"]["hashed_message"].native == bytes.fromhex(token.sha256)
    assert request["message_imprint"]["hash_algorithm"]["algorithm"].native == "sha256"
    assert tsa.user_agents[-1] == PRODUCT  # not httpx's own name

    reply = token.path.read_bytes()
    stamped = verify_signature(reply, tsa)  # the TSA's signature holds, by its certificate
    assert before - timedelta(seconds=1) <= stamped <= datetime.now(UTC)
    assert token.token_sha256 == hashlib.sha256(reply).hexdigest()
    if shutil.which("openssl"):  # and the standard tool a court's expert would use agrees
        ca = tmp_path / "ca.pem"
        ca.write_bytes(tsa.ca_pem())
        result = subprocess.run(
            [
                "openssl",
                "ts",
                "-verify",
                "-digest",
                token.sha256,
                "-in",
                str(token.path),
                "-CAfile",
                str(ca),
            ],
            capture_output=True,
            text=True,
        )
        assert "Verification: OK" in result.stdout, result.stderr

    with archive.read_session() as session:
        event = session.scalars(select(Event).where(Event.seq == 4)).one()
    assert event.type == "timestamp" and token.event_seq == 4
    assert event.payload["seq"] == 3 and event.payload["sha256"] == token.sha256
    assert event.payload["token"] == "log/timestamps/3.tsr"
    assert event.payload["token_sha256"] == token.token_sha256

    report = verify_chain(archive)
    assert report.ok, report.to_json()
    assert [(t.seq, t.ok) for t in report.timestamps] == [(3, True)]


def test_a_consistent_rewrite_of_both_copies_is_caught_by_the_token(
    archive: Archive, tsa: LocalTSA
) -> None:
    """Someone holding the database and the file rewrites history and recomputes every
    hash: both copies agree and chain, but the TSA signed the old head."""
    fill(archive, 4)
    timestamp_head(archive, tsa.url)
    path = log_path(archive.layout)
    entries = [json.loads(line) for line in path.read_bytes().splitlines()]
    entries[1]["payload"] = {"n": 99}
    prev = entries[0]["sha256"]
    for entry in entries[1:]:
        entry["prev_sha256"] = prev
        entry["sha256"] = hashlib.sha256(
            canonical({k: v for k, v in entry.items() if k != "sha256"})
        ).hexdigest()
        prev = entry["sha256"]
    path.write_bytes(b"".join(canonical(e) + b"\n" for e in entries))
    with archive.engine.begin() as connection:
        for entry in entries[1:]:
            connection.execute(
                text(
                    "UPDATE events SET payload = :p, prev_sha256 = :prev, sha256 = :s WHERE seq = :seq"
                ),
                {
                    "p": json.dumps(entry["payload"]),
                    "prev": entry["prev_sha256"],
                    "s": entry["sha256"],
                    "seq": entry["seq"],
                },
            )

    report = verify_chain(archive)
    assert report.breaks == []  # both copies are self-consistent and equal
    assert not report.ok
    (check,) = report.timestamps
    assert (check.seq, check.ok) == (4, False)
    assert "chain was altered" in (check.why or "")


def test_the_newest_entries_cut_off_both_copies_are_caught_by_their_token(
    archive: Archive, tsa: LocalTSA
) -> None:
    """Entries cut off the end of the database and of the file leave a chain that is
    whole: only a token shows it once went further. Such a token was taken for one
    made while the check ran, and `verify` said "intact"."""
    fill(archive, 4)
    tsa.clock = timedelta(minutes=-3)  # signed a while before the check
    try:
        timestamp_head(archive, tsa.url)  # stamps entry 4; entry 5 records the token
    finally:
        tsa.clock = timedelta(0)
    with archive.engine.begin() as connection:
        connection.execute(text("DELETE FROM events WHERE seq >= 4"))
    path = log_path(archive.layout)
    path.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[:3]))

    report = verify_chain(archive)
    assert report.breaks == [] and not report.ok
    (check,) = report.timestamps
    assert (check.seq, check.ok) == (4, False)
    assert check.why == "stamps entry 4, which is not in the chain"


def test_a_cut_is_caught_by_its_token_whatever_the_local_clock_says(
    archive: Archive, tsa: LocalTSA
) -> None:
    """Whether a token past the head was made while the check ran was read from the
    local clock: with ours two days behind the TSA's (set back by whoever cut the log,
    or a board without a clock before NTP), the token was excused and the cut passed."""
    fill(archive, 4)
    tsa.clock = timedelta(days=2)  # our clock two days behind the TSA's
    try:
        timestamp_head(archive, tsa.url)  # stamps entry 4; entry 5 records the token
    finally:
        tsa.clock = timedelta(0)
    with archive.engine.begin() as connection:
        connection.execute(text("DELETE FROM events WHERE seq >= 4"))
    path = log_path(archive.layout)
    path.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[:3]))

    report = verify_chain(archive)
    assert [(t.seq, t.ok, t.why) for t in report.timestamps] == [
        (4, False, "stamps entry 4, which is not in the chain")
    ]


def test_a_log_cut_to_nothing_in_both_copies_is_caught_by_its_token(
    archive: Archive, tsa: LocalTSA
) -> None:
    """Tokens were listed while reading the first entry: with every entry deleted from
    the database and the file there was none, the tokens went unlooked at, and a log
    cut to nothing passed the check as intact."""
    fill(archive, 4)
    timestamp_head(archive, tsa.url)  # stamps entry 4; entry 5 records the token
    with archive.engine.begin() as connection:
        connection.execute(text("DELETE FROM events"))
    log_path(archive.layout).write_bytes(b"")

    report = verify_chain(archive)
    assert (report.entries, report.breaks, report.ok) == (0, [], False)
    assert [(t.seq, t.ok, t.why) for t in report.timestamps] == [
        (4, False, "stamps entry 4, which is not in the chain")
    ]


def test_a_token_made_while_the_chain_is_checked_is_the_next_checks(
    archive: Archive, tsa: LocalTSA, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A head committed and stamped after the check's snapshot began is past the head
    the check sees: left to the next check, not "not in the chain"."""
    fill(archive, 3)
    step = eventlog._FileWalker.step
    stamped: list[int] = []

    def step_while_stamping(walker: Any, seq: int, line: bytes, sha256: str) -> None:
        if not stamped:  # the snapshot is taken: an entry commits and is stamped now
            fill(archive, 1)
            stamped.append(timestamp_head(archive, tsa.url).seq)
        step(walker, seq, line, sha256)

    monkeypatch.setattr(eventlog._FileWalker, "step", step_while_stamping)
    report = verify_chain(archive)
    assert stamped == [4] and report.head_seq == 3
    assert report.ok and report.timestamps == []
    monkeypatch.undo()
    again = verify_chain(archive)
    assert again.ok and [(t.seq, t.ok) for t in again.timestamps] == [(4, True)]


def test_a_token_swapped_for_another_entrys_is_named_so(archive: Archive, tsa: LocalTSA) -> None:
    """A token file overwritten with another genuine token of the archive was reported
    as "the chain was altered", though the chain was whole."""
    fill(archive, 2)
    first = timestamp_head(archive, tsa.url)
    fill(archive, 2)
    second = timestamp_head(archive, tsa.url)
    second.path.write_bytes(first.path.read_bytes())

    report = verify_chain(archive)
    assert report.breaks == []
    bad = [check for check in report.timestamps if not check.ok]
    assert [(check.seq, check.why) for check in bad] == [
        (
            second.seq,
            f"is the token of entry {first.seq}, not of entry {second.seq}: "
            "token files were swapped",
        )
    ]


def test_a_tampered_replaced_or_missing_token_is_reported(archive: Archive, tsa: LocalTSA) -> None:
    fill(archive, 2)
    token = timestamp_head(archive, tsa.url)
    genuine = token.path.read_bytes()
    data = bytearray(genuine)
    data[-5] ^= 0x01  # inside the signature
    token.path.write_bytes(bytes(data))
    (check,) = verify_chain(archive).timestamps
    assert not check.ok and "signature does not verify" in (check.why or "")

    # another genuine token for the same entry is not the one its entry recorded
    token.path.write_bytes(_token_for(tsa, bytes.fromhex(token.sha256)))
    (check,) = verify_chain(archive).timestamps
    assert not check.ok and "differs from the token recorded by entry 3" in (check.why or "")

    token.path.unlink()
    (check,) = verify_chain(archive).timestamps
    assert not check.ok and "missing" in (check.why or "")

    # a folder where the token belongs was an IsADirectoryError traceback
    token.path.mkdir()
    (check,) = verify_chain(archive).timestamps
    assert (check.ok, check.why) == (False, "not a regular file")


def test_a_token_renamed_to_another_entrys_name_is_named_so(
    archive: Archive, tsa: LocalTSA
) -> None:
    """9.tsr renamed 8.tsr was "the chain was altered": only entries that still had a
    token file were looked at for the entry the token stamps."""
    fill(archive, 2)
    token = timestamp_head(archive, tsa.url)
    fill(archive, 2)
    renamed = token.path.with_name(f"{token.seq - 1}.tsr")
    token.path.rename(renamed)

    report = verify_chain(archive)
    assert report.breaks == []
    bad = [(check.seq, check.why) for check in report.timestamps if not check.ok]
    assert (
        token.seq - 1,
        f"is the token of entry {token.seq}, not of entry {token.seq - 1}: "
        "token files were swapped",
    ) in bad


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        pytest.param(
            "reject", re.escape("refused the request (rejection: policy says no)"), id="reject"
        ),
        pytest.param("wrong_nonce", "nonce does not match", id="wrong-nonce"),
        pytest.param("wrong_imprint", "another imprint", id="wrong-imprint"),
        pytest.param("garbage", "not a valid RFC 3161", id="garbage"),
        pytest.param("http_error", "answered HTTP 503", id="http-error"),
    ],
)
def test_a_bad_reply_is_refused_and_nothing_is_stored(
    archive: Archive, mode: Any, message: str
) -> None:
    fill(archive, 1)
    with LocalTSA(mode) as bad, pytest.raises(ArchiverError, match=message) as caught:
        timestamp_head(archive, bad.url)
    assert isinstance(caught.value, TimestampError | TokenError)
    assert not (archive.layout.root / "log" / "timestamps" / "1.tsr").exists()
    with archive.read_session() as session:
        assert session.scalar(select(Event.type).order_by(Event.seq.desc()).limit(1)) == "sighting"


def test_an_empty_log_or_an_unreachable_tsa_is_a_clear_error(archive: Archive) -> None:
    with pytest.raises(TimestampError, match="empty"):
        timestamp_head(archive, "http://127.0.0.1:9/tsa")
    fill(archive, 1)
    with pytest.raises(TimestampError, match="cannot reach the time-stamping authority"):
        timestamp_head(archive, "http://127.0.0.1:9/tsa", timeout=2)


def test_the_head_is_due_for_a_stamp_only_when_it_moved_and_the_last_stamp_aged(
    archive: Archive, tsa: LocalTSA
) -> None:
    day = 86400.0
    assert not timestamp_due(archive, day)  # nothing to stamp
    fill(archive, 2)
    assert timestamp_due(archive, day)
    token = timestamp_head(archive, tsa.url)
    later = datetime.now(UTC) + timedelta(days=2)
    assert not timestamp_due(archive, day, now=later)  # only the timestamp entry since
    fill(archive, 1)
    assert not timestamp_due(archive, day)  # too soon
    assert timestamp_due(archive, day, now=later)
    assert token.seq == 2


def test_a_stamp_dated_in_the_future_does_not_hold_back_the_next_one(archive: Archive) -> None:
    """A stamp recorded while the clock ran ahead (an RTC reset to 2031) stopped
    stamping until the clock reached 2031."""
    fill(archive, 2)
    record(archive, "timestamp", {"seq": 2}, at=datetime(2031, 1, 1, tzinfo=UTC))
    assert not timestamp_due(archive, 86400.0)  # nothing added since
    fill(archive, 1)
    now = datetime.now(UTC)
    assert timestamp_due(archive, 86400.0, now=now)
    assert timestamp_due(archive, 86400.0, now=now + timedelta(days=365))


# ---- the TSA's signature ------------------------------------------------------------------


def _token_for(tsa: LocalTSA, digest: bytes) -> bytes:
    """A granted reply from ``tsa`` for ``digest``, fetched directly."""
    request = build_request(digest, 12345)
    headers = {"Content-Type": "application/timestamp-query"}
    return httpx.post(tsa.url, content=request, headers=headers).content


def _signer(reply: bytes) -> cms.SignerInfo:
    signer: cms.SignerInfo = asn1_tsp.TimeStampResp.load(reply)["time_stamp_token"]["content"][
        "signer_infos"
    ][0]
    return signer


def _flip_signature(reply: bytes) -> bytes:
    """``reply`` with one byte of its token's signature flipped, nothing re-encoded."""
    data = bytearray(reply)
    data[reply.rindex(bytes(_signer(reply)["signature"].native)) + 10] ^= 0xFF
    return bytes(data)


class _FlippingTSA(LocalTSA):
    """The local TSA behind a relay that flips one byte of each token's signature."""

    def answer(self, body: bytes, content_type: str) -> bytes:
        return _flip_signature(super().answer(body, content_type))


class _CertificatelessTSA(LocalTSA):
    """A TSA that leaves its certificate out although the request asks for it."""

    def _token(
        self, imprint: asn1_tsp.MessageImprint, nonce: int | None, *, include_certificate: bool
    ) -> cms.ContentInfo:
        return super()._token(imprint, nonce, include_certificate=False)


def _certificate(
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
    usages: list[cx509.ObjectIdentifier] | None,
    *,
    critical: bool = True,
    key_identifier: bool = False,
) -> cx509.Certificate:
    """A self-issued signer certificate (no chain is checked when stamping)."""
    name = cx509.Name([cx509.NameAttribute(NameOID.COMMON_NAME, "archiver test TSA, variant")])
    now = datetime.now(UTC)
    builder = (
        cx509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(cx509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
    )
    if usages is not None:
        builder = builder.add_extension(cx509.ExtendedKeyUsage(usages), critical=critical)
    if key_identifier:
        builder = builder.add_extension(
            cx509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
    return builder.sign(key, hashes.SHA256())


def _with_certificate(tsa: LocalTSA, certificate: cx509.Certificate) -> LocalTSA:
    tsa.certificate = certificate
    tsa.certificate_der = certificate.public_bytes(serialization.Encoding.DER)
    return tsa


def test_a_token_whose_signature_was_altered_in_transit_is_refused_and_nothing_is_stored(
    archive: Archive,
) -> None:
    fill(archive, 1)
    with (
        _FlippingTSA() as relay,
        pytest.raises(TokenError, match="signature does not verify with its signer certificate"),
    ):
        timestamp_head(archive, relay.url)
    assert not (archive.layout.root / "log" / "timestamps" / "1.tsr").exists()
    with archive.read_session() as session:
        assert session.scalar(select(Event.type).order_by(Event.seq.desc()).limit(1)) == "sighting"
    assert verify_chain(archive).timestamps == []


@pytest.mark.parametrize(
    ("usages", "critical", "message"),
    [
        pytest.param(None, True, "not for time-stamping", id="no-eku"),
        pytest.param(
            [ExtendedKeyUsageOID.CODE_SIGNING], True, "not for time-stamping", id="other-eku"
        ),
        pytest.param(
            [ExtendedKeyUsageOID.TIME_STAMPING], False, "only one and critical", id="not-critical"
        ),
        pytest.param(
            [ExtendedKeyUsageOID.TIME_STAMPING, ExtendedKeyUsageOID.CODE_SIGNING],
            True,
            "only one and critical",
            id="not-alone",
        ),
    ],
)
def test_a_token_signed_by_a_certificate_not_for_time_stamping_is_refused(
    archive: Archive, usages: list[cx509.ObjectIdentifier] | None, critical: bool, message: str
) -> None:
    fill(archive, 1)
    tsa = LocalTSA()
    _with_certificate(tsa, _certificate(tsa.key, usages, critical=critical))
    with tsa, pytest.raises(TokenError, match=message):
        timestamp_head(archive, tsa.url)
    assert not (archive.layout.root / "log" / "timestamps" / "1.tsr").exists()


def test_a_token_without_its_signer_certificate_is_refused(archive: Archive) -> None:
    fill(archive, 1)
    with (
        _CertificatelessTSA() as tsa,
        pytest.raises(TokenError, match=r"^the time-stamp token carries no signer certificate"),
    ):
        timestamp_head(archive, tsa.url)
    assert tsa.requests[-1]["cert_req"].native is True
    assert not (archive.layout.root / "log" / "timestamps" / "1.tsr").exists()


class _RsaTSA(LocalTSA):
    """The local TSA re-signing its tokens with an RSA key (PKCS#1 v1.5 or PSS), naming
    its certificate by issuer and serial or by subject key identifier."""

    def __init__(self, algorithm: str, *, by_key_identifier: bool) -> None:
        super().__init__()
        self.rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.algorithm = algorithm
        self.by_key_identifier = by_key_identifier
        self.flip = False
        certificate = _certificate(
            self.rsa_key, [ExtendedKeyUsageOID.TIME_STAMPING], key_identifier=by_key_identifier
        )
        _with_certificate(self, certificate)

    def answer(self, body: bytes, content_type: str) -> bytes:
        response = asn1_tsp.TimeStampResp.load(super().answer(body, content_type))
        signer = response["time_stamp_token"]["content"]["signer_infos"][0]
        message = signer["signed_attrs"].untag().dump()
        if self.algorithm == "rsassa_pss":
            pad: padding.AsymmetricPadding = padding.PSS(
                mgf=padding.MGF1(hashes.SHA256()), salt_length=32
            )
            algorithm = algos.SignedDigestAlgorithm(
                {
                    "algorithm": "rsassa_pss",
                    "parameters": {
                        "hash_algorithm": {"algorithm": "sha256"},
                        "mask_gen_algorithm": {
                            "algorithm": "mgf1",
                            "parameters": {"algorithm": "sha256"},
                        },
                        "salt_length": 32,
                    },
                }
            )
        else:
            pad = padding.PKCS1v15()
            algorithm = algos.SignedDigestAlgorithm({"algorithm": self.algorithm})
        signer["signature_algorithm"] = algorithm
        signer["signature"] = self.rsa_key.sign(message, pad, hashes.SHA256())
        if self.by_key_identifier:
            key_identifier = self.certificate.extensions.get_extension_for_class(
                cx509.SubjectKeyIdentifier
            ).value.digest
            signer["sid"] = cms.SignerIdentifier({"subject_key_identifier": key_identifier})
            signer["version"] = "v3"
        reply = bytes(response.dump(force=True))
        return _flip_signature(reply) if self.flip else reply


@pytest.mark.parametrize(
    ("algorithm", "by_key_identifier"),
    [
        pytest.param("sha256_rsa", False, id="sha256WithRSA"),
        pytest.param("rsassa_pkcs1v15", False, id="rsaEncryption"),
        pytest.param("rsassa_pss", True, id="rsa-pss-by-key-identifier"),
    ],
)
def test_rsa_signed_tokens_are_checked_too(
    archive: Archive, algorithm: str, by_key_identifier: bool
) -> None:
    fill(archive, 1)
    with _RsaTSA(algorithm, by_key_identifier=by_key_identifier) as tsa:
        token = timestamp_head(archive, tsa.url)
        report = verify_chain(archive)
        assert report.ok and [(t.seq, t.ok) for t in report.timestamps] == [(1, True)]

        data = bytearray(token.path.read_bytes())
        data[-5] ^= 0x01  # inside the signature
        token.path.write_bytes(bytes(data))
        (check,) = verify_chain(archive).timestamps
        assert not check.ok and "signature does not verify" in (check.why or "")

        fill(archive, 1)
        tsa.flip = True
        with pytest.raises(TokenError, match="signature does not verify"):
            timestamp_head(archive, tsa.url)


# ---- a token file already there -------------------------------------------------------------


def test_a_token_left_by_an_earlier_run_is_checked_and_logged(
    archive: Archive, tsa: LocalTSA
) -> None:
    """An earlier run placed ``<seq>.tsr`` and stopped before logging it."""
    fill(archive, 2)
    with archive.read_session() as session:
        head_sha256 = session.scalar(select(Event.sha256).where(Event.seq == 2))
    assert head_sha256 is not None
    left = _token_for(tsa, bytes.fromhex(head_sha256))
    path = archive.layout.root / "log" / "timestamps" / "2.tsr"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(left)

    token = timestamp_head(archive, tsa.url)
    assert token.path == path and path.read_bytes() == left  # the file is kept
    assert token.token_sha256 == hashlib.sha256(left).hexdigest()
    assert token.event_seq == 3
    with archive.read_session() as session:
        event = session.scalars(select(Event).where(Event.seq == 3)).one()
    assert event.type == "timestamp" and event.payload["seq"] == 2
    assert event.payload["token_sha256"] == token.token_sha256
    report = verify_chain(archive)
    assert report.ok, report.to_json()
    assert [(t.seq, t.ok) for t in report.timestamps] == [(2, True)]


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        pytest.param("imprint", "already there and the stamped imprint is not", id="other-imprint"),
        pytest.param("signature", "already there and does not hold: .*signature", id="signature"),
    ],
)
def test_a_token_left_there_that_does_not_stamp_the_head_is_refused(
    archive: Archive, tsa: LocalTSA, spoil: str, message: str
) -> None:
    fill(archive, 2)
    with archive.read_session() as session:
        head_sha256 = session.scalar(select(Event.sha256).where(Event.seq == 2))
    assert head_sha256 is not None
    if spoil == "imprint":
        left = _token_for(tsa, hashlib.sha256(b"another log").digest())
    else:
        left = _flip_signature(_token_for(tsa, bytes.fromhex(head_sha256)))
    path = archive.layout.root / "log" / "timestamps" / "2.tsr"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(left)

    with pytest.raises(TimestampError, match=message):
        timestamp_head(archive, tsa.url)
    assert path.read_bytes() == left
    with archive.read_session() as session:
        assert session.scalar(select(Event.type).order_by(Event.seq.desc()).limit(1)) == "sighting"
