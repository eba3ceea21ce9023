"""How our clients and accounts meet a MariaDB/MySQL server, without SQLAlchemy: the node
adapters need this, and every `medsys` command imports them (the launcher's service
table asks each adapter how its server is run), so it must stay cheap to import."""

from __future__ import annotations

from medsys.core.settings import Network, Settings

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def mysql_transport_options(host: str) -> dict[str, object]:
    """PyMySQL asks for TLS by default and builds a fresh SSL context, loading the whole
    system CA store, for every connection: 60 % of a monitor's CPU, measured. Over
    loopback TLS protects nothing, so it is off there; between containers it stays on."""
    return {"ssl_disabled": True} if host in LOOPBACK_HOSTS else {}


def mysql_account_host(settings: Settings) -> str:
    """The host part of our MariaDB/MySQL accounts: locally every client comes from
    loopback; in containers from the compose network."""
    return "127.0.0.1" if settings.network is Network.LOOPBACK else "%"
