"""Reading and writing files safely: TOML with located errors, atomic writes, file stamps and
the one memo of answers computed from files, the never-stale dependency cache, SQLite
connections, times. Everything above reads the disk through here."""
