import json
import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import text

from connectors.errors import CredentialError
from connectors.vault import Keyring, KeySource, Vault, key_id, new_master_key, rotate
from engine.db import make_engine
from engine.errors import NotFoundError

SECRET = "sk-live-Zq81vTopSecretValue"


@pytest.fixture
def db(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'fw.db'}")
    yield engine
    engine.dispose()


def test_round_trip_list_delete(db) -> None:
    vault = Vault(db, Keyring.of(new_master_key()))
    info = vault.set("ws1", "openai", "api_key", SECRET)
    assert info.type == "api_key"
    assert vault.resolve("ws1", "openai") == {"api_key": SECRET}
    vault.set("ws1", "smtp-main", "smtp", {"host": "mail.example.com", "port": 587, "password": "pw-1"})
    assert [c.name for c in vault.list("ws1")] == ["openai", "smtp-main"]
    assert vault.list("ws2") == []
    with pytest.raises(CredentialError) as err:
        vault.resolve("ws2", "openai")  # workspaces do not see each other's credentials
    assert err.value.code == "credential_not_found"
    vault.set("ws1", "openai", "api_key", "sk-new")  # replace
    assert vault.resolve("ws1", "openai") == {"api_key": "sk-new"}
    vault.delete("ws1", "openai")
    with pytest.raises(NotFoundError):
        vault.delete("ws1", "openai")


def test_secret_never_stored_in_clear(db, tmp_path: Path) -> None:
    vault = Vault(db, Keyring.of(new_master_key()))
    vault.set("ws1", "api", "api_key", SECRET)
    vault.set("ws1", "db", "url", {"url": "postgresql://u:" + SECRET + "x@h/db"})
    db.dispose()
    with db.begin() as conn:  # fold the WAL into the main file too
        conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    db.dispose()
    for f in tmp_path.iterdir():
        if f.name.startswith("fw.db"):
            assert SECRET.encode() not in f.read_bytes(), f.name


def test_validation_of_types_and_names(db) -> None:
    vault = Vault(db, Keyring.of(new_master_key()))
    with pytest.raises(CredentialError, match=r"field\(s\): password"):
        vault.set("ws", "b", "basic", {"username": "u"})
    with pytest.raises(CredentialError, match="unknown credential type"):
        vault.set("ws", "b", "magic", "x")
    with pytest.raises(CredentialError, match="JSON object"):
        vault.set("ws", "b", "smtp", "just-a-string")
    with pytest.raises(CredentialError, match="invalid credential name"):
        vault.set("ws", "../etc", "api_key", "x")


def test_tampered_ciphertext_fails_loudly(db) -> None:
    vault = Vault(db, Keyring.of(new_master_key()))
    vault.set("ws1", "api", "api_key", SECRET)
    with db.begin() as conn:
        ct = conn.execute(text("SELECT ciphertext FROM credentials")).scalar_one()
        flipped = bytes([ct[0] ^ 1]) + ct[1:]
        conn.execute(text("UPDATE credentials SET ciphertext = :c"), {"c": flipped})
    with pytest.raises(CredentialError) as err:
        vault.resolve("ws1", "api")
    assert err.value.code == "credential_tampered"


def test_row_moved_to_other_workspace_or_name_fails(db) -> None:
    vault = Vault(db, Keyring.of(new_master_key()))
    vault.set("ws1", "api", "api_key", SECRET)
    with db.begin() as conn:
        conn.execute(text("UPDATE credentials SET workspace_id = 'ws2'"))
    with pytest.raises(CredentialError, match="integrity"):
        vault.resolve("ws2", "api")
    with db.begin() as conn:
        conn.execute(text("UPDATE credentials SET workspace_id = 'ws1', name = 'other'"))
    with pytest.raises(CredentialError, match="integrity"):
        vault.resolve("ws1", "other")


def test_wrong_master_key_is_reported(db) -> None:
    Vault(db, Keyring.of(new_master_key())).set("ws1", "api", "api_key", SECRET)
    with pytest.raises(CredentialError) as err:
        Vault(db, Keyring.of(new_master_key())).resolve("ws1", "api")
    assert err.value.code == "credential_key_missing"


def test_env_managed_rotation_with_previous_keys(db, tmp_path: Path) -> None:
    old, new = new_master_key(), new_master_key()
    Vault(db, Keyring.of(old)).set("ws1", "api", "api_key", SECRET)
    source = KeySource(new, previous_keys=[old], data_dir=tmp_path, file_managed=False)
    vault = Vault(db, source)
    assert vault.resolve("ws1", "api") == {"api_key": SECRET}  # old key id still decrypts
    active, count = rotate(vault, source)
    assert (active, count) == (key_id(Keyring.of(new).keys[active]), 1)
    assert [c.key_id for c in vault.list("ws1")] == [active]
    # the old key can now go
    assert Vault(db, Keyring.of(new)).resolve("ws1", "api") == {"api_key": SECRET}


def test_file_managed_rotation_keeps_running_vaults_working(db, tmp_path: Path) -> None:
    key_file = tmp_path / "secret.key"
    key_file.write_text(new_master_key() + "\n")
    os.chmod(key_file, 0o600)
    source = KeySource(key_file.read_text().strip(), data_dir=tmp_path, file_managed=True)
    service = Vault(db, KeySource(key_file.read_text().strip(), data_dir=tmp_path, file_managed=True))
    for i in range(5):
        service.set(f"ws{i % 2}", f"c{i}", "api_key", f"{SECRET}-{i}")
    old_id = service.keyring().active_id

    cli = Vault(db, source)
    new_id = source.begin_rotation()
    assert new_id != old_id
    journal = tmp_path / "keys.json"
    assert stat.S_IMODE(journal.stat().st_mode) == 0o600
    # mid-rotation: the running service sees the journal, decrypts old rows, seals new ones with the new key
    assert service.resolve("ws0", "c0") == {"api_key": f"{SECRET}-0"}
    assert service.set("ws1", "fresh", "api_key", "v").key_id == new_id
    assert cli.reseal(new_id) == 5
    source.finish_rotation()
    assert not journal.exists()
    assert key_id(Keyring.of(key_file.read_text().strip()).keys[new_id]) == new_id
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    # the service, after rotation finished, still reads everything — and the old key is gone
    assert service.resolve("ws1", "c1") == {"api_key": f"{SECRET}-1"}
    assert set(service.keyring().keys) == {new_id}
    assert {c.key_id for ws in ("ws0", "ws1") for c in service.list(ws)} == {new_id}


def test_rotation_resumes_after_a_crash(db, tmp_path: Path) -> None:
    (tmp_path / "secret.key").write_text(new_master_key())
    source = KeySource((tmp_path / "secret.key").read_text(), data_dir=tmp_path, file_managed=True)
    vault = Vault(db, source)
    vault.set("ws", "a", "api_key", "1")
    first = source.begin_rotation()  # "crash" before re-sealing
    restarted = KeySource((tmp_path / "secret.key").read_text(), data_dir=tmp_path, file_managed=True)
    vault2 = Vault(db, restarted)
    assert vault2.resolve("ws", "a") == {"api_key": "1"}
    active, count = rotate(vault2, restarted)
    assert (active, count) == (first, 1)  # resumed the same rotation, no second new key
    assert json.loads(json.dumps(vault2.resolve("ws", "a"))) == {"api_key": "1"}


def test_passphrase_master_key_rotates(db, tmp_path: Path) -> None:
    (tmp_path / "secret.key").write_text("a long passphrase, not base64\n")
    source = KeySource("a long passphrase, not base64", data_dir=tmp_path, file_managed=True)
    vault = Vault(db, source)
    vault.set("ws", "a", "api_key", "1")
    source.begin_rotation()
    assert len(json.loads((tmp_path / "keys.json").read_text())["keys"]) == 1
    assert len(source.keyring().keys) == 2  # the passphrase keeps its key id, plus the new key
    active, count = rotate(vault, source)
    assert count == 1 and vault.resolve("ws", "a") == {"api_key": "1"}


def test_reseal_never_overwrites_a_secret_set_meanwhile(db, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    old, new = new_master_key(), new_master_key()
    Vault(db, Keyring.of(old)).set("ws", "api", "api_key", "old-secret")
    vault = Vault(db, Keyring.of(new, [old]))
    real_seal = vault._seal

    def racing_seal(*args):  # type: ignore[no-untyped-def]
        sealed = real_seal(*args)
        monkeypatch.setattr(vault, "_seal", real_seal)
        vault.set("ws", "api", "api_key", "new-secret")  # a person updates it while rotation runs
        return sealed

    monkeypatch.setattr(vault, "_seal", racing_seal)
    assert vault.reseal() == 0
    assert vault.resolve("ws", "api") == {"api_key": "new-secret"}
    assert vault.pending() == 0
