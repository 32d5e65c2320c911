"""Evidence integrity: a hash-chained event log, fixity checks, BagIt export, RFC 3161 stamps.

An archivist must be able to prove, years later, that a file is the one captured
and unchanged. The modules here give that proof: ``eventlog`` records every
archival event in a tamper-evident chain, ``fixity`` re-hashes the store against
the index and the sidecars, ``export`` hands a self-describing BagIt package to a
court or a repository, and ``timestamp`` anchors the chain's head with a
time-stamping authority. The formats are documented in docs/integrity.md.
"""
