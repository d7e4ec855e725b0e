"""The credential vault: named, typed secrets per workspace, encrypted at rest.

Encryption: AES-256-GCM (``cryptography``) under a per-workspace key derived with HKDF-SHA256
from a master key; a random 96-bit nonce per write; the associated data binds the ciphertext to
its workspace, name and type (a row copied to another workspace or renamed fails to decrypt);
each row stores the id of the master key it was sealed with.

Master keys and rotation (the keyring):

* The *active* master key is ``FLOWWRIGHT_SECRET_KEY`` or, when unset, the file
  ``<data_dir>/secret.key`` (0600, generated on first use). A key id is a fingerprint of the key
  (``k`` + 16 hex digits of a SHA-256), so it reveals nothing.
* ``FLOWWRIGHT_PREVIOUS_SECRET_KEYS`` (comma-separated) lists retired keys that still decrypt.
* ``<data_dir>/keys.json`` (0600) is the rotation journal: while a file-managed rotation is in
  progress it holds both the old and the new key and names the new one active. Every vault
  re-reads it when it changes, so running services keep decrypting old rows and start sealing
  with the new key as soon as rotation begins — no downtime.

``flowwright keys rotate`` with a file-managed key: write the journal (new key active), re-seal
every row not under the active key (one short transaction each), replace ``secret.key`` with the
new key, delete the journal. A crash at any point leaves a journal that still decrypts
everything; running the command again resumes. With an env-managed key, set
``FLOWWRIGHT_SECRET_KEY`` to the new key and ``FLOWWRIGHT_PREVIOUS_SECRET_KEYS`` to the old one,
run ``keys rotate`` (it re-seals every row under the new key), then drop the old key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Column, LargeBinary, UniqueConstraint, update
from sqlalchemy.engine import CursorResult, Engine
from sqlmodel import Field, Session, SQLModel, select

from connectors.contract import AuthType
from connectors.errors import CredentialError
from engine.errors import NotFoundError

FORMAT = "v1"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$"

# Fields each credential type must carry (more are allowed, e.g. ``allow_writes`` on a URL).
REQUIRED_FIELDS: dict[AuthType, tuple[str, ...]] = {
    AuthType.NONE: (),
    AuthType.API_KEY: ("api_key",),
    AuthType.BASIC: ("username", "password"),
    AuthType.OAUTH2: ("access_token",),
    AuthType.SMTP: ("host",),
    AuthType.URL: ("url",),
}
# The field a single bare value (not a JSON object) becomes, per type.
SINGLE_VALUE_FIELD: dict[AuthType, str] = {
    AuthType.API_KEY: "api_key",
    AuthType.OAUTH2: "access_token",
    AuthType.URL: "url",
}


def _now() -> datetime:
    return datetime.now(UTC)


def decode_master_key(key: str) -> bytes:
    """A master key is base64 of 32 random bytes; any other non-empty string is used as is
    (HKDF stretches it), so a passphrase works too — production refuses placeholders."""
    key = key.strip()
    if not key:
        raise CredentialError("the master key is empty", code="master_key_invalid")
    try:
        raw = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    return raw if len(raw) == 32 else key.encode()


def key_id(master: bytes) -> str:
    return "k" + hashlib.sha256(b"flowwright-key-id\0" + master).hexdigest()[:16]


def new_master_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass(frozen=True)
class Keyring:
    """Master keys by key id, and the one new ciphertexts are sealed with."""

    keys: Mapping[str, bytes]
    active_id: str

    @classmethod
    def of(cls, active: str, previous: Iterable[str] = ()) -> Keyring:
        master = decode_master_key(active)
        keys = {key_id(m): m for m in (decode_master_key(p) for p in previous if p.strip())}
        keys[key_id(master)] = master
        return cls(keys, key_id(master))

    def workspace_key(self, kid: str, workspace_id: str) -> bytes:
        master = self.keys.get(kid)
        if master is None:
            raise CredentialError(
                f"credential was sealed with master key {kid}, which is not in the keyring "
                "(set FLOWWRIGHT_PREVIOUS_SECRET_KEYS to the old key, or finish `flowwright keys rotate`)",
                code="credential_key_missing", key_id=kid,
            )
        return HKDF(
            algorithm=hashes.SHA256(), length=32, salt=b"flowwright-vault-v1",
            info=b"workspace:" + workspace_id.encode(),
        ).derive(master)


class KeySource:
    """Builds the keyring from settings values plus the rotation journal, re-reading the journal
    when it changes (a cheap ``stat`` per call)."""

    def __init__(
        self, master_key: str, *, previous_keys: Iterable[str] = (), data_dir: Path | None = None,
        file_managed: bool = False,
    ) -> None:
        self.master_key = master_key
        self.previous_keys = [p for p in previous_keys if p.strip()]
        self.data_dir = data_dir
        self.file_managed = file_managed and data_dir is not None
        self._cache: tuple[Any, Keyring] | None = None

    @property
    def journal(self) -> Path | None:
        return self.data_dir / "keys.json" if self.data_dir is not None else None

    @property
    def key_file(self) -> Path | None:
        return self.data_dir / "secret.key" if self.file_managed and self.data_dir is not None else None

    def _read_journal(self) -> dict[str, Any] | None:
        journal = self.journal
        if journal is None or not journal.exists():
            return None
        try:
            data = json.loads(journal.read_text())
            if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
                raise ValueError("no keys list")
            return data
        except (OSError, ValueError) as exc:
            raise CredentialError(f"{journal}: unreadable key journal: {exc}", code="keyring_invalid") from exc

    def _current_master(self) -> str:
        if self.key_file is not None and self.key_file.exists():
            return self.key_file.read_text().strip()  # may have been replaced by a rotation
        return self.master_key

    def keyring(self) -> Keyring:
        journal = self.journal
        try:
            stamp: Any = journal.stat().st_mtime_ns if journal is not None else None
        except FileNotFoundError:
            stamp = None
        master = self._current_master()
        stamp = (stamp, master)
        if self._cache is not None and self._cache[0] == stamp:
            return self._cache[1]
        data = self._read_journal()
        if data is None:
            ring = Keyring.of(master, self.previous_keys)
        else:
            ring = Keyring.of(str(data["active"]), [master, *self.previous_keys, *map(str, data["keys"])])
        self._cache = (stamp, ring)
        return ring

    def begin_rotation(self) -> str:
        """Make a new key active (file-managed keys), or resume a rotation in progress.
        Returns the active key id that every row must end up sealed with."""
        if not self.file_managed:
            return self.keyring().active_id
        data = self._read_journal()
        if data is None:
            # The keys as configured (a passphrase stays a passphrase), so ids do not change.
            data = {"active": new_master_key(), "keys": [self._current_master(), *self.previous_keys]}
            _write_private(self.journal, json.dumps(data))  # type: ignore[arg-type]
        return self.keyring().active_id

    def finish_rotation(self) -> None:
        """After every row is sealed with the active key: make it the master key, drop the journal."""
        if not self.file_managed:
            return
        data = self._read_journal()
        if data is None:
            return
        _write_private(self.key_file, str(data["active"]) + "\n")  # type: ignore[arg-type]
        self.journal.unlink()  # type: ignore[union-attr]
        self.master_key = str(data["active"])
        self._cache = None


def _write_private(path: Path, text: str) -> None:
    """Write a 0600 file atomically (write a temporary file, then rename over)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class CredentialRow(SQLModel, table=True):
    __tablename__ = "credentials"
    __table_args__ = (UniqueConstraint("workspace_id", "name", name="uq_credential_name"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: str = Field(index=True)
    name: str
    type: str
    key_id: str = Field(index=True)
    format: str = Field(default=FORMAT)
    nonce: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    ciphertext: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(default_factory=_now)
    updated_at: datetime = Field(default_factory=_now)


@dataclass(frozen=True)
class CredentialInfo:
    """What may be shown about a credential: never its secret."""

    name: str
    type: str
    key_id: str
    created_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "key_id": self.key_id,
                "created_at": self.created_at.isoformat(), "updated_at": self.updated_at.isoformat()}


def _info(row: CredentialRow) -> CredentialInfo:
    return CredentialInfo(row.name, row.type, row.key_id, row.created_at, row.updated_at)


def _aad(workspace_id: str, name: str, type_: str) -> bytes:
    return json.dumps(["flowwright-credential", FORMAT, workspace_id, name, type_]).encode()


def normalize_secret(type_: AuthType | str, secret: Any) -> dict[str, Any]:
    """Turn what a user gave (a JSON object, or one bare value) into the stored secret dict,
    checking the type's required fields."""
    try:
        auth = AuthType(type_)
    except ValueError:
        raise CredentialError(
            f"unknown credential type {type_!r}; expected one of {', '.join(a.value for a in AuthType)}",
            code="credential_type_invalid",
        ) from None
    if isinstance(secret, str):
        field_name = SINGLE_VALUE_FIELD.get(auth)
        if field_name is None:
            need = ", ".join(REQUIRED_FIELDS[auth]) or "an object"
            raise CredentialError(
                f"a {auth.value} credential needs a JSON object with {need}", code="credential_invalid"
            )
        secret = {field_name: secret}
    if not isinstance(secret, dict):
        raise CredentialError("a credential secret must be a JSON object or a single string",
                              code="credential_invalid")
    missing = [f for f in REQUIRED_FIELDS[auth] if secret.get(f) in (None, "")]
    if missing:
        raise CredentialError(f"a {auth.value} credential needs the field(s): {', '.join(missing)}",
                              code="credential_invalid", missing=missing)
    return dict(secret)


class Vault:
    """Encrypted credentials per workspace. ``resolve`` is what the engine calls at run time."""

    TABLES = (CredentialRow.__table__,)  # type: ignore[attr-defined]

    def __init__(self, engine: Engine, keys: KeySource | Keyring) -> None:
        self.engine = engine
        self._keys = keys
        SQLModel.metadata.create_all(engine, tables=list(self.TABLES))

    def keyring(self) -> Keyring:
        return self._keys if isinstance(self._keys, Keyring) else self._keys.keyring()

    # -- sealing -------------------------------------------------------------------------------
    def _seal(self, workspace_id: str, name: str, type_: str, secret: dict[str, Any]) -> tuple[str, bytes, bytes]:
        ring = self.keyring()
        key = ring.workspace_key(ring.active_id, workspace_id)
        nonce = secrets.token_bytes(12)
        plaintext = json.dumps(secret, separators=(",", ":")).encode()
        return ring.active_id, nonce, AESGCM(key).encrypt(nonce, plaintext, _aad(workspace_id, name, type_))

    def _open(self, row: CredentialRow) -> dict[str, Any]:
        key = self.keyring().workspace_key(row.key_id, row.workspace_id)
        try:
            plaintext = AESGCM(key).decrypt(row.nonce, row.ciphertext, _aad(row.workspace_id, row.name, row.type))
        except InvalidTag:
            raise CredentialError(
                f"credential {row.name!r} failed its integrity check: the stored ciphertext was altered, "
                "moved, or sealed with a different key",
                code="credential_tampered", credential=row.name,
            ) from None
        value = json.loads(plaintext)
        if not isinstance(value, dict):
            raise CredentialError(f"credential {row.name!r} is not an object", code="credential_tampered")
        return value

    # -- API -----------------------------------------------------------------------------------
    def set(self, workspace_id: str, name: str, type_: AuthType | str, secret: Any) -> CredentialInfo:
        """Create or replace a credential. ``secret`` is a dict, or one string for single-value types."""
        if not re.match(NAME_PATTERN, name):
            raise CredentialError(
                f"invalid credential name {name!r}: use letters, digits, '_', '.', '-' (max 128)",
                code="credential_name_invalid",
            )
        data = normalize_secret(type_, secret)
        type_str = AuthType(type_).value
        kid, nonce, ct = self._seal(workspace_id, name, type_str, data)
        with Session(self.engine) as session:
            row = session.exec(
                select(CredentialRow).where(CredentialRow.workspace_id == workspace_id, CredentialRow.name == name)
            ).first()
            if row is None:
                row = CredentialRow(workspace_id=workspace_id, name=name, type=type_str, key_id=kid,
                                    nonce=nonce, ciphertext=ct)
            else:
                row.type, row.key_id, row.nonce, row.ciphertext = type_str, kid, nonce, ct
                row.format, row.updated_at = FORMAT, _now()
            session.add(row)
            session.commit()
            session.refresh(row)
            return _info(row)

    def _row(self, session: Session, workspace_id: str, name: str) -> CredentialRow | None:
        return session.exec(
            select(CredentialRow).where(CredentialRow.workspace_id == workspace_id, CredentialRow.name == name)
        ).first()

    def resolve(self, workspace_id: str, name: str) -> dict[str, Any]:
        """The decrypted secret dict of a credential; ``CredentialError`` if missing or unreadable."""
        with Session(self.engine) as session:
            row = self._row(session, workspace_id, name)
        if row is None:
            raise CredentialError(f"no credential named {name!r} in this workspace",
                                  code="credential_not_found", credential=name)
        return self._open(row)

    def info(self, workspace_id: str, name: str) -> CredentialInfo:
        with Session(self.engine) as session:
            row = self._row(session, workspace_id, name)
        if row is None:
            raise NotFoundError(f"no credential named {name!r} in this workspace", credential=name)
        return _info(row)

    def list(self, workspace_id: str) -> list[CredentialInfo]:
        """Names, types and key ids only — never secrets."""
        with Session(self.engine) as session:
            rows = session.exec(
                select(CredentialRow).where(CredentialRow.workspace_id == workspace_id).order_by(CredentialRow.name)
            ).all()
        return [_info(r) for r in rows]

    def delete(self, workspace_id: str, name: str) -> None:
        with Session(self.engine) as session:
            row = self._row(session, workspace_id, name)
            if row is None:
                raise NotFoundError(f"no credential named {name!r} in this workspace", credential=name)
            session.delete(row)
            session.commit()

    def reseal(self, active_id: str | None = None) -> int:
        """Re-encrypt every row not sealed with the active key (all workspaces); returns how many.

        One short transaction per row, and only if the row did not change meanwhile, so it runs
        beside a live service."""
        target = active_id or self.keyring().active_id
        count = 0
        with Session(self.engine) as session:
            ids = session.exec(select(CredentialRow.id).where(CredentialRow.key_id != target)).all()
        for row_id in ids:
            with Session(self.engine) as session:
                row = session.get(CredentialRow, row_id)
                if row is None or row.key_id == target:
                    continue
                secret = self._open(row)
                kid, nonce, ct = self._seal(row.workspace_id, row.name, row.type, secret)
                # Compare-and-set on the old nonce: a `set` that lands meanwhile wins, and the
                # row is left for the next pass instead of being overwritten with the old secret.
                table = CredentialRow.__table__  # type: ignore[attr-defined]
                changed = cast(CursorResult[Any], session.execute(
                    update(table).where(table.c.id == row.id, table.c.nonce == row.nonce)
                    .values(key_id=kid, nonce=nonce, ciphertext=ct)
                )).rowcount
                session.commit()
                count += int(bool(changed))
        return count

    def pending(self, active_id: str | None = None) -> int:
        target = active_id or self.keyring().active_id
        with Session(self.engine) as session:
            return len(session.exec(select(CredentialRow.id).where(CredentialRow.key_id != target)).all())


def rotate(vault: Vault, source: KeySource) -> tuple[str, int]:
    """Rotate the master key (see the module docstring). Returns (new active key id, rows re-sealed)."""
    active = source.begin_rotation()
    count = vault.reseal(active)
    if vault.pending(active):  # a writer on a stale keyring raced us; one more pass
        count += vault.reseal(active)
    if vault.pending(active):
        raise CredentialError("rotation is not finished: some credentials still use an old key; run it again",
                              code="rotation_incomplete")
    source.finish_rotation()
    return active, count
