"""Rewriting sidecars that no longer say what the index says.

A sidecar is the index's word about one stored file (or page version), written
beside it for a person reading the folder. When one is missing, unreadable or
disagrees with the index (`verify` names it; `export` refuses to put it in a bag),
``archiver verify --rewrite-sidecars`` writes it again from the index. The index is
the record the log's entries were written with, so it is the one followed; but the
replaced sidecar may itself be evidence (of tampering, or of a damaged index), so it
is kept as it was under ``replaced/`` and each rewrite is a ``sidecar_rewritten``
entry in the log naming what disagreed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import select

from archiver.archive import Archive
from archiver.capture import Capturer
from archiver.errors import storage_error
from archiver.index.models import Media
from archiver.integrity.eventlog import record
from archiver.integrity.fixity import Problem, sidecar_problems
from archiver.integrity.readers import sha256_file
from archiver.store.atomic import fsync_dir
from archiver.store.layout import Layout
from archiver.store.objects import replaced_name


@dataclass(frozen=True)
class Rewritten:
    sha256: str  # of the original or the page version the sidecar describes
    kind: Literal["original", "page"]
    sidecar: str  # relative to the root
    replaced: str | None  # where the old sidecar is kept (None: there was none)
    replaced_sha256: str | None
    problems: tuple[str, ...]  # what was wrong, as `verify` said it

    def to_json(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "kind": self.kind,
            "sidecar": self.sidecar,
            "replaced": self.replaced,
            "replaced_sha256": self.replaced_sha256,
            "problems": list(self.problems),
        }


def rewrite_sidecars(archive: Archive) -> list[Rewritten]:
    """Rewrite from the index every sidecar that is missing, unreadable or disagrees
    with it; keep each replaced one and record a ``sidecar_rewritten`` entry. One
    whose whole folder is gone is left to `verify`, which names the missing file."""
    layout = archive.layout
    capturer = Capturer(archive)  # the sidecars' one writer
    done: list[Rewritten] = []
    for path, problems in _by_sidecar(sidecar_problems(archive)):
        sha256 = problems[0].sha256
        assert sha256 is not None  # sidecar problems always name their file
        if not path.parent.is_dir():
            continue  # the file's folder is gone: `verify` names the missing file
        kind: Literal["original", "page"] = (
            "page" if path.is_relative_to(layout.pages_root) else "original"
        )
        try:
            replaced, replaced_sha256 = _keep(layout, path, sha256)
        except OSError as exc:
            raise storage_error(exc, f"cannot keep {layout.relative(path)}") from None
        rewritten = Rewritten(
            sha256=sha256,
            kind=kind,
            sidecar=layout.relative(path),
            replaced=replaced,
            replaced_sha256=replaced_sha256,
            problems=tuple(problem.printable_detail for problem in problems),
        )
        # recorded before the sidecar is replaced: a crash in between leaves the entry
        # and the old sidecar (verify names it again), never a rewrite the log omits
        owner = sha256 if kind == "original" else None
        record(archive, "sidecar_rewritten", rewritten.to_json(), media_sha256=owner)
        try:
            if kind == "page":
                capturer.rewrite_page_sidecar(sha256)
            else:
                with archive.read_session() as session:
                    media_id = session.scalars(select(Media.id).where(Media.sha256 == sha256)).one()
                capturer.rewrite_sidecar(media_id)
        except OSError as exc:
            raise storage_error(exc, f"cannot rewrite {layout.relative(path)}") from None
        done.append(rewritten)
    return done


def _by_sidecar(problems: list[Problem]) -> Iterator[tuple[Path, list[Problem]]]:
    grouped: dict[str, list[Problem]] = {}
    for problem in problems:
        assert problem.path is not None
        grouped.setdefault(problem.path, []).append(problem)
    for path in sorted(grouped):
        yield Path(path), grouped[path]


def _keep(layout: Layout, sidecar: Path, sha256: str) -> tuple[str | None, str | None]:
    """Keep the sidecar about to be replaced under ``replaced/``, as it is: its
    relative path and SHA-256, or (None, None) when there is none to keep."""
    if not sidecar.exists() and not sidecar.is_symlink():
        return None, None
    kept = replaced_name(layout, sha256, "provenance", ".json")
    regular = sidecar.is_file() and not sidecar.is_symlink()
    if regular:
        os.link(sidecar, kept)  # the same bytes under a second name: nothing is copied
    else:
        os.rename(sidecar, kept)  # a folder or a link where the sidecar belongs
    fsync_dir(kept.parent)
    return layout.relative(kept), sha256_file(kept)[0] if regular else None
