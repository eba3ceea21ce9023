"""Backups and point-in-time recovery: where each pair's backups go, how they are taken
on a schedule, listed, verified and restored into a folder of their own.

PostgreSQL (the admin pair) is backed up by pgBackRest: every WAL segment is archived as
the primary closes it (at least once a minute, ``archive_timeout``), base backups are taken
from the standby, the repository is encrypted with a key kept in the secrets, never
beside it. The MariaDB and MySQL pairs are not backed up yet (see README).
"""
