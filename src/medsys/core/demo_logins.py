"""The demo accounts' passwords: one per account, never shared.

Each is derived from the system's demo secret and the account's name (HMAC-SHA256), so
``medsys up`` can print them at any time without a file of plain passwords, a container's
setup job makes the same ones, and knowing one account's password tells nothing about
another's. Demo data only: real accounts get random passwords from ``medsys user``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

# Who logs in where, for `medsys up` to print: (service, account, what they are).
DEMO_ACCOUNTS = (
    ("clinical", "dra.soto", "médica, administradora de cuentas clínicas"),
    ("clinical", "dr.rojas", "médico"),
    ("clinical", "dra.munoz", "médica"),
    ("clinical", "dr.fuentes", "médico"),
    ("clinical", "enf.silva", "enfermera"),
    ("admin", "adm.vera", "administrativa (recepción), administradora de cuentas"),
    ("admin", "cont.lagos", "contador"),
    ("portal", "11111111-1", "paciente"),
    ("portal", "22222222-2", "paciente"),
    ("portal", "33333333-3", "paciente"),
)


def demo_password(seed: str, account: str) -> str:
    digest = hmac.new(seed.encode(), account.encode(), hashlib.sha256).digest()
    return "demo-" + base64.b32encode(digest).decode()[:12].lower()
