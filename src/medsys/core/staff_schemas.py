"""What staff send to log in and to manage accounts: the same JSON on clinical and admin."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class LoginIn(_Strict):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=200)
    code: str | None = Field(default=None, max_length=10, description="TOTP, si está activo")


class RefreshIn(_Strict):
    session: str = Field(min_length=20, max_length=100)


class PasswordChangeIn(_Strict):
    current_password: str = Field(min_length=1, max_length=200)
    new_password: str = Field(min_length=12, max_length=200)


class PasswordIn(_Strict):
    password: str = Field(min_length=1, max_length=200)


class CodeIn(_Strict):
    code: str = Field(min_length=6, max_length=10)


class NewAccountIn(_Strict):
    username: str = Field(min_length=3, max_length=64)
    full_name: str = Field(min_length=1, max_length=120)
    role: str = Field(min_length=1, max_length=16)
    administrator: bool = False
    rut: str | None = Field(default=None, max_length=12, description="solo clínica")
    specialty: str | None = Field(default=None, max_length=80, description="solo médicos")


# --- answers ---------------------------------------------------------------------------
class SessionOut(BaseModel):
    """A login: the access token, and the session's secret that renews it."""

    token: str
    expires_in: int = Field(description="segundos")
    session: str
    username: str
    role: str
    name: str
    administrator: bool


class EndedSessionsOut(BaseModel):
    ended_sessions: int


class MessageOut(BaseModel):
    message: str


class PasswordChangedOut(MessageOut):
    ended_sessions: int


class EnrolmentOut(BaseModel):
    secret: str
    uri: str


class AccountOut(BaseModel):
    username: str
    name: str
    role: str
    active: bool
    administrator: bool
    second_factor: bool
    created_at: str


class AccountsOut(BaseModel):
    users: list[AccountOut]


class IssuedPasswordOut(BaseModel):
    username: str
    password: str
