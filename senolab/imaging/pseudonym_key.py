"""The pseudonym key: what keeps a database dump from re-identifying anyone.

`settings.SENOLAB_PSEUDONYM_KEY` (the environment, or a key file generated on first run
beside the database, never in it; see docs/configuration.md) derives one Fernet key. It
encrypts the pseudonym map's original identifiers and each project's de-identification secret,
the HMAC key behind pseudonyms and remapped UIDs. Without the settings key a dump holds
ciphertext and HMACs under a key it does not contain: no original name, patient id or
accession, and no way to test a guessed patient id against a pseudonym.

Nothing here imports a model: the models use it to read their encrypted fields.
"""

from __future__ import annotations

import base64
from functools import cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


class PseudonymKeyError(Exception):
    """A value that the configured pseudonym key cannot decrypt (a different key, or tampering)."""


@cache
def _fernet(master: str) -> Fernet:
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"senolab pseudonym map v1"
    ).derive(master.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def fernet() -> Fernet:
    return _fernet(settings.SENOLAB_PSEUDONYM_KEY)


def encrypt(text: str) -> str:
    return fernet().encrypt(text.encode()).decode("ascii")


def decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return fernet().decrypt(token.encode("ascii")).decode()
    except InvalidToken:
        raise PseudonymKeyError(
            "a pseudonym-map value cannot be decrypted with the configured "
            "SENOLAB_PSEUDONYM_KEY (was the key changed or lost?)"
        ) from None
