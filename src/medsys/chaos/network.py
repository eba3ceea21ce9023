"""Cutting one network link on this machine with nftables, for partition scenarios.

Everything runs on loopback, so a link is told apart by who opens it: the replica's
replication connection is the only one opened to the primary's port with the database
servers' own group (``medsys-db``); the applications connect as other users, and the
monitors as the servers' user but with its own group.
A connection so opened is marked in conntrack, and every packet of a marked connection
is dropped, in both directions or only one (an asymmetric cut), existing connections
and reconnections alike. Needs root and the ``nft`` command (Debian's nftables).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

# One table and one conntrack mark per cut port: systems on other ports (another test
# system running beside this one) keep their own cuts, and their links stay whole.
TABLE_PREFIX = "medsys_chaos_"
MARK_BASE = 0x4D5E0000


class NetworkCutError(RuntimeError):
    """nftables is missing or refused the rules."""


def _nft(script: str) -> None:
    if shutil.which("nft") is None:
        raise NetworkCutError("partition scenarios need nftables: apt-get install -y nftables")
    result = subprocess.run(
        ["nft", "-f", "-"], input=script, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise NetworkCutError(f"nft refused the rules: {result.stderr.strip()}")


def heal(port: int) -> None:
    """Remove the cut of ``port`` (harmless when there is none)."""
    table = f"{TABLE_PREFIX}{port}"
    _nft(f"table inet {table} {{}}\ndelete table inet {table}\n")


@dataclass(frozen=True)
class ReplicationCut:
    """The link from the servers' group to ``port``: ``towards`` drops what the replica
    sends, ``back`` what the primary sends it."""

    port: int
    gid: int
    towards: bool = True
    back: bool = True

    @property
    def mark(self) -> str:
        return hex(MARK_BASE + self.port)

    def rules(self) -> str:
        drop_out = []
        if self.towards:
            drop_out.append(f"ct mark {self.mark} ct direction original drop")
        if self.back:
            drop_out.append(f"ct mark {self.mark} ct direction reply drop")
        body = "\n    ".join(drop_out)
        return (
            f"table inet {TABLE_PREFIX}{self.port} {{\n"
            "  chain out {\n"
            "    type filter hook output priority -10; policy accept;\n"
            f"    tcp dport {self.port} meta skgid {self.gid} ct mark set {self.mark}\n"
            f"    {body}\n"
            "  }\n"
            "}\n"
        )

    def __enter__(self) -> ReplicationCut:
        heal(self.port)
        _nft(self.rules())
        return self

    def __exit__(self, *_: object) -> None:
        heal(self.port)
