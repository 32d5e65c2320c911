"""Writing a BagIt bag (RFC 8493, version 1.0) and its zip serialization.

A bag is what long-term repositories and courts accept: a ``data/`` payload with a
manifest of SHA-256 sums, described by tag files that are themselves checksummed.
Files are copied (never hard-linked: a recipient editing the bag must not be able
to touch the archive's originals) and hashed in the same pass as they are written.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

from archiver.errors import ArchiverError

CHUNK = 4 * 1024 * 1024
BAGIT_TXT = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
_COMPRESSIBLE = {".txt", ".json", ".jsonl", ".html", ".htm", ".vtt", ".srt", ".xml"}


class ExportError(ArchiverError):
    """The export cannot be made: nothing selected, a bad destination, a file that is
    missing or no longer what the archive recorded, a write that failed."""


def _encode_path(name: str) -> str:
    """Manifest paths percent-encode ``%``, CR and LF (RFC 8493 section 2.1.3)."""
    return name.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _tag_value(value: str) -> str:
    return " ".join(value.split())


class BagWriter:
    """Fills ``root/data`` file by file, then writes the manifests and tag files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.manifest: dict[str, str] = {}  # "data/..." -> sha256
        self.octets = 0

    def _target(self, name: str) -> Path:
        if name.startswith("/") or ".." in Path(name).parts:
            raise ExportError(f"refusing a payload path outside data/: {name!r}")
        if f"data/{name}" in self.manifest:
            raise ExportError(f"payload path written twice: {name!r}")
        target = self.data / name
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def copy(self, source: Path, name: str, *, expect_sha256: str | None = None) -> str:
        """Copy ``source`` to ``data/<name>``, hashing as it goes; with ``expect_sha256``
        the copy must have exactly those bytes (evidence is never exported corrupt)."""
        if source.is_symlink():  # evidence is what the archive holds, not a link out
            raise ExportError(
                f"cannot export {source}: it is a symbolic link (run archiver verify)"
            )
        target = self._target(name)
        digest = hashlib.sha256()
        size = 0
        try:
            with source.open("rb") as reader, target.open("xb") as writer:
                while chunk := reader.read(CHUNK):
                    digest.update(chunk)
                    writer.write(chunk)
                    size += len(chunk)
                writer.flush()
                os.fsync(writer.fileno())
        except FileNotFoundError:
            raise ExportError(f"cannot export {source}: the file is missing") from None
        except OSError as exc:  # a full or read-only bag disk, as often as the archive
            raise ExportError(f"cannot copy {source} to {target}: {exc.strerror or exc}") from None
        sha256 = digest.hexdigest()
        if expect_sha256 is not None and sha256 != expect_sha256:
            raise ExportError(
                f"cannot export {source}: its bytes no longer match sha256 {expect_sha256} "
                "(run archiver verify)"
            )
        self.manifest[f"data/{name}"] = sha256
        self.octets += size
        return sha256

    def write(self, name: str, data: bytes) -> str:
        """Add a payload file made here (the export's own description, log excerpts)."""
        target = self._target(name)
        with target.open("xb") as writer:
            writer.write(data)
            writer.flush()
            os.fsync(writer.fileno())
        sha256 = hashlib.sha256(data).hexdigest()
        self.manifest[f"data/{name}"] = sha256
        self.octets += len(data)
        return sha256

    def finish(self, info: list[tuple[str, str]]) -> tuple[str, str]:
        """Write bagit.txt, bag-info.txt (with Payload-Oxum), the payload manifest and
        the tag manifest. Returns the SHA-256 of manifest-sha256.txt and of
        tagmanifest-sha256.txt, which between them name every byte of the bag."""
        oxum = ("Payload-Oxum", f"{self.octets}.{len(self.manifest)}")
        lines = "".join(f"{label}: {_tag_value(value)}\n" for label, value in [*info, oxum])
        manifest = "".join(
            f"{sha}  {_encode_path(name)}\n" for name, sha in sorted(self.manifest.items())
        )
        tags: dict[str, bytes] = {
            "bagit.txt": BAGIT_TXT.encode("utf-8"),
            "bag-info.txt": lines.encode("utf-8"),
            "manifest-sha256.txt": manifest.encode("utf-8"),
        }
        for name, data in tags.items():
            self._write_tag(name, data)
        tag_manifest = "".join(
            f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in sorted(tags.items())
        ).encode("utf-8")
        self._write_tag("tagmanifest-sha256.txt", tag_manifest)
        return (
            hashlib.sha256(tags["manifest-sha256.txt"]).hexdigest(),
            hashlib.sha256(tag_manifest).hexdigest(),
        )

    def _write_tag(self, name: str, data: bytes) -> None:
        with (self.root / name).open("xb") as writer:
            writer.write(data)
            writer.flush()
            os.fsync(writer.fileno())


def serialize_zip(root: Path, target: Path) -> None:
    """Zip the bag as RFC 8493 serializes it: one top-level folder named like the bag.

    Written beside the target and renamed into place, so a half-written zip never
    carries the final name. Media is stored as is; text is deflated.
    """
    partial = target.with_name(target.name + ".part")
    try:
        with zipfile.ZipFile(partial, "w", allowZip64=True) as archive:
            for path in sorted(p for p in root.rglob("*") if p.is_file()):
                name = f"{root.name}/{path.relative_to(root).as_posix()}"
                method = (
                    zipfile.ZIP_DEFLATED
                    if path.suffix.lower() in _COMPRESSIBLE
                    else zipfile.ZIP_STORED
                )
                archive.write(path, name, compress_type=method)
        with partial.open("rb") as written:
            os.fsync(written.fileno())
        os.replace(partial, target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ExportError(f"cannot write {target}: {exc.strerror or exc}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
