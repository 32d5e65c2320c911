"""The on-disk archive: content-addressed originals, page snapshots and their sidecars."""
