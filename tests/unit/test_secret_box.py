"""SecretBox: Fernet round trips, the key from STAGELINE_SECRET_KEY or a 0600 key file made
once, and clear failures for a wrong key that never show the secret."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from stageline.services.secret_box import KEY_FILE, SecretBox, SecretBoxError
from stageline.settings import Settings


def test_round_trip_and_ciphertext_hides_the_value(tmp_path: Path) -> None:
    box = SecretBox.from_settings(Settings(data_dir=tmp_path))
    sealed = box.encrypt("hunter2-token")
    assert "hunter2" not in sealed
    assert box.decrypt(sealed) == "hunter2-token"
    assert box.encrypt("hunter2-token") != sealed  # fresh IV each time


def test_key_file_is_made_once_with_mode_0600(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    sealed = SecretBox.from_settings(settings).encrypt("v")
    path = settings.data_dir / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = path.read_bytes()
    assert SecretBox.from_settings(settings).decrypt(sealed) == "v"  # same key reused
    assert path.read_bytes() == key


def test_key_from_settings_is_shared_by_processes(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    one = SecretBox.from_settings(Settings(data_dir=tmp_path / "a", secret_key=SecretStr(key)))
    two = SecretBox.from_settings(Settings(data_dir=tmp_path / "b", secret_key=SecretStr(key)))
    assert two.decrypt(one.encrypt("shared")) == "shared"
    assert not (tmp_path / "a" / KEY_FILE).exists()


def test_wrong_key_fails_clearly_without_the_secret(tmp_path: Path) -> None:
    sealed = SecretBox(Fernet.generate_key()).encrypt("do-not-show")
    with pytest.raises(SecretBoxError) as info:
        SecretBox(Fernet.generate_key()).decrypt(sealed)
    assert "STAGELINE_SECRET_KEY" in str(info.value) and "do-not-show" not in str(info.value)
    with pytest.raises(SecretBoxError):
        SecretBox(b"not-a-key")
