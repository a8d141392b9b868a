"""Encryption at rest: AES-256-GCM for stored updates, snapshots, event payloads and Redis entries.

A key is 32 random bytes, kept base64-encoded in a file (``encryption_key_file``). Its id (the
first 8 bytes of its SHA-256, in hex) is stored with every row it sealed, so rows sealed with an
older key stay readable while ``jupyter omniforge rotate-key`` re-seals them. Every row is
sealed with associated data naming where it belongs (the room and the row's id): a row copied
to another room or another row does not open.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_NONCE = 12


class CipherError(ValueError):
    """A key file that cannot be used, or a row no key we have opens; ``str(error)`` says
    which."""


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:16]


def read_key_file(path: str | Path) -> bytes:
    """The 32-byte key in ``path`` (base64 text); :class:`CipherError` saying what is wrong."""
    try:
        text = Path(path).read_text().strip()
    except OSError as e:
        raise CipherError(f"cannot read the encryption key file {path}: {e}") from None
    try:
        key = base64.b64decode(text, validate=True)
    except ValueError:
        raise CipherError(f"the encryption key file {path} is not base64") from None
    if len(key) != 32:
        raise CipherError(f"the encryption key in {path} is {len(key)} bytes, not 32")
    return key


def write_key_file(path: str | Path) -> str:
    """Create a new key file (0600); returns the key's id."""
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(base64.b64encode(key).decode() + "\n")
    return key_id(key)


class Cipher:
    """Seals with the current key; opens with any key it holds (old ones during a rotation)."""

    def __init__(self, current: bytes, *older: bytes) -> None:
        self._keys = {key_id(k): AESGCM(k) for k in (current, *older)}
        self.current = key_id(current)

    def merged(self, *others: Cipher) -> Cipher:
        """A cipher sealing with this one's current key and opening with every key of this one
        and of ``others``."""
        combined = Cipher.__new__(Cipher)
        combined._keys = {k: v for c in (self, *others) for k, v in c._keys.items()}
        combined.current = self.current
        return combined

    @property
    def key_ids(self) -> list[str]:
        """The ids of every key this cipher opens with (the current one first)."""
        return list(self._keys)

    def seal(self, plaintext: bytes, associated: bytes) -> tuple[str, bytes]:
        """``(key id, nonce + ciphertext)``."""
        nonce = secrets.token_bytes(_NONCE)
        return self.current, nonce + self._keys[self.current].encrypt(nonce, plaintext, associated)

    def open(self, kid: str, sealed: bytes, associated: bytes) -> bytes:
        aead = self._keys.get(kid)
        if aead is None:
            raise CipherError(f"a row was sealed with key {kid}, which this server does not have")
        try:
            return aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], associated)
        except (InvalidTag, ValueError):
            raise CipherError(
                f"a row does not open with key {kid}: altered, or moved from another row"
            ) from None
