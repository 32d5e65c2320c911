"""The SQL index of the archive."""
