"""Signed checkpoints of the audit chain, kept outside the database.

As Certificate Transparency's signed tree heads: a job (``jobs.checkpoint``)
signs, for every chained table, its head (the last record's key, how many
records the table holds up to it, that record's hash) with an Ed25519 key the
database never holds, and appends the checkpoint to a store outside the
database (``settings.AUDIT_CHECKPOINT_BACKEND``, a JSON-lines file by default).
Each checkpoint carries the hash of the one before it, so the store cannot lose
one from the middle unnoticed. ``verify_audit --checkpoints`` then proves every
table still holds what was signed: the newest records deleted and the head
rewound, or a table rewritten with its head, since a checkpoint are found.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import fcntl
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from django.utils.module_loading import import_string

from .chain import GENESIS, Expected, chained_models
from .models import ChainHead

VERSION = 1


# --- Keys -----------------------------------------------------------------------------


def _key_material(value: str, setting: str) -> bytes:
    """A key given as a file (PEM, or base64 of the raw bytes) or as base64 itself."""
    if not value:
        raise ImproperlyConfigured(f"{setting} is not set: audit checkpoints need it.")
    path = Path(value)
    try:
        if path.is_file():
            return path.read_bytes().strip()
    except OSError:
        pass
    try:
        if len(base64.b64decode(value, validate=True)) == 32:
            return value.encode()
    except (binascii.Error, ValueError):
        pass
    raise ImproperlyConfigured(f"{setting}: no key file at {value} (nor is it base64 of a 32-byte key).")


def _raw(material: bytes, setting: str) -> bytes:
    try:
        raw = base64.b64decode(material, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ImproperlyConfigured(f"{setting} is neither a PEM key nor base64 of 32 bytes.") from error
    if len(raw) != 32:
        raise ImproperlyConfigured(f"{setting} is neither a PEM key nor base64 of 32 bytes.")
    return raw


def signing_key() -> Ed25519PrivateKey:
    material = _key_material(settings.AUDIT_CHECKPOINT_SIGNING_KEY, "AUDIT_CHECKPOINT_SIGNING_KEY")
    if material.startswith(b"-----BEGIN"):
        key = serialization.load_pem_private_key(material, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ImproperlyConfigured("AUDIT_CHECKPOINT_SIGNING_KEY is not an Ed25519 key.")
        return key
    return Ed25519PrivateKey.from_private_bytes(_raw(material, "AUDIT_CHECKPOINT_SIGNING_KEY"))


def verify_key() -> Ed25519PublicKey:
    material = _key_material(settings.AUDIT_CHECKPOINT_VERIFY_KEY, "AUDIT_CHECKPOINT_VERIFY_KEY")
    if material.startswith(b"-----BEGIN"):
        key = serialization.load_pem_public_key(material)
        if not isinstance(key, Ed25519PublicKey):
            raise ImproperlyConfigured("AUDIT_CHECKPOINT_VERIFY_KEY is not an Ed25519 key.")
        return key
    return Ed25519PublicKey.from_public_bytes(_raw(material, "AUDIT_CHECKPOINT_VERIFY_KEY"))


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def generate_keypair(private_path: Path, public_path: Path) -> None:
    """A new Ed25519 pair as PEM files (the private one readable by its owner only)."""
    private = Ed25519PrivateKey.generate()
    private_path.parent.mkdir(parents=True, exist_ok=True)
    private_path.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    private_path.chmod(0o600)
    public_path.write_bytes(
        private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


DEV_SIGNING_KEY_NAME = "audit-checkpoint-dev.key"


def ensure_dev_keypair() -> bool:
    """With DEBUG on and the development key files configured but missing, make them (the
    demo signs checkpoints out of the box); returns whether it did. Never in production."""
    if not settings.DEBUG or not settings.AUDIT_CHECKPOINT_SIGNING_KEY:
        return False
    private, public = Path(settings.AUDIT_CHECKPOINT_SIGNING_KEY), Path(settings.AUDIT_CHECKPOINT_VERIFY_KEY)
    if private.name != DEV_SIGNING_KEY_NAME or private.exists() or public.exists():
        return False
    generate_keypair(private, public)
    return True


# --- The store --------------------------------------------------------------------------


class CheckpointStore:
    """Where checkpoints are kept, outside the database; append-only.

    ``append`` calls ``build`` with the newest stored entry (or None) and stores what it
    returns, with nobody appending in between (a WORM bucket would use a conditional put).
    """

    def read(self) -> list[dict]:
        raise NotImplementedError

    def append(self, build: Callable[[dict | None], dict]) -> dict:
        raise NotImplementedError


class JsonLinesStore(CheckpointStore):
    """One checkpoint per line of a file (``settings.AUDIT_CHECKPOINT_STORE``), under an flock."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path or settings.AUDIT_CHECKPOINT_STORE)

    def read(self) -> list[dict]:
        if not self.path.exists():
            return []
        entries = []
        for number, line in enumerate(self.path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError:
                entries.append({"unreadable": f"line {number} is not JSON"})
        return entries

    def append(self, build: Callable[[dict | None], dict]) -> dict:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                handle.seek(0)
                lines = [line for line in handle.read().splitlines() if line.strip()]
                entry = build(json.loads(lines[-1]) if lines else None)
                handle.seek(0, 2)
                handle.write(_canonical(entry) + "\n")
                handle.flush()
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return entry


def store() -> CheckpointStore:
    return import_string(settings.AUDIT_CHECKPOINT_BACKEND)()


# --- Signing ------------------------------------------------------------------------------


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def entry_hash(entry: dict) -> str:
    """What the next checkpoint links to: the whole stored entry, signature included."""
    return hashlib.sha256(_canonical(entry).encode()).hexdigest()


def current_heads() -> list[dict]:
    """Every chained table's head: its last record, how many records up to it, its hash.

    Counted up to the head's key, not the whole table: records are chained in key
    order under one lock, so every record up to a committed head is committed too.
    """
    heads = {head.table: head for head in ChainHead.objects.all()}
    result = []
    for model in chained_models():
        table = model._meta.db_table
        head = heads.get(table)
        if head is None:
            continue
        count = model._base_manager.filter(pk__lte=model._meta.pk.to_python(head.last_pk)).count()
        result.append({"table": table, "last_pk": head.last_pk, "count": count, "hash": head.last_hash})
    return result


def checkpoint_sign() -> dict:
    """Sign every table's head now and append the checkpoint to the store; return the entry."""
    private = signing_key()
    kid = key_id(private.public_key())
    tables = current_heads()

    def build(previous: dict | None) -> dict:
        seq = (previous or {}).get("checkpoint", {}).get("seq", 0) + 1
        body = {
            "version": VERSION,
            "seq": seq,
            "signed_at": timezone.now().astimezone(datetime.UTC).isoformat(timespec="seconds"),
            "prev": entry_hash(previous) if previous else GENESIS,
            "key_id": kid,
            "tables": tables,
        }
        signature = private.sign(_canonical(body).encode())
        return {"checkpoint": body, "signature": base64.b64encode(signature).decode()}

    return store().append(build)


# --- Verifying ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckpointProblem:
    where: str
    problem: str

    def __str__(self) -> str:
        return f"{self.where}: {self.problem}"


def _name(body: dict, line: int) -> str:
    return f"checkpoint #{body.get('seq', '?')} (line {line}, signed {body.get('signed_at', '?')})"


def verify_checkpoints(entries: list[dict]) -> tuple[dict[str, list[Expected]], list[CheckpointProblem]]:
    """Check every checkpoint's signature and link; return what the good ones expect of each
    table, and the problems found in the store itself."""
    public = verify_key()
    expected: dict[str, list[Expected]] = {}
    problems: list[CheckpointProblem] = []
    if not entries:
        problems.append(CheckpointProblem("checkpoint store", "it holds no checkpoint to verify against"))
    previous: dict | None = None
    newest_count: dict[str, tuple[int, str]] = {}
    for line, entry in enumerate(entries, start=1):
        body = entry.get("checkpoint") if isinstance(entry, dict) else None
        if not isinstance(body, dict):
            problems.append(CheckpointProblem(f"checkpoint at line {line}", "it is not a checkpoint"))
            previous = entry
            continue
        name = _name(body, line)
        try:
            public.verify(base64.b64decode(entry.get("signature", "")), _canonical(body).encode())
        except (InvalidSignature, binascii.Error, ValueError):
            problems.append(
                CheckpointProblem(
                    name,
                    "its signature does not verify: it was forged or altered (or signed by a key "
                    "other than AUDIT_CHECKPOINT_VERIFY_KEY)",
                )
            )
            previous = entry
            continue
        link = entry_hash(previous) if previous is not None else GENESIS
        if body.get("prev") != link or body.get("seq") != line:
            problems.append(
                CheckpointProblem(
                    name,
                    "it does not follow the checkpoint before it: checkpoints were removed or reordered in the store",
                )
            )
        for head in body.get("tables", []):
            table = head["table"]
            before = newest_count.get(table)
            if before and head["count"] < before[0]:
                problems.append(
                    CheckpointProblem(
                        name,
                        f"{table} has {head['count']} records, fewer than the {before[0]} {before[1]} signed: "
                        "the table was cut back between them",
                    )
                )
            newest_count[table] = (head["count"], name)
            expected.setdefault(table, []).append(
                Expected(checkpoint=name, pk=str(head["last_pk"]), count=head["count"], hash=head["hash"])
            )
        previous = entry
    known = {model._meta.db_table for model in chained_models()}
    for table in sorted(set(expected) - known):
        problems.append(
            CheckpointProblem(expected[table][-1].checkpoint, f"it signed a table {table} the portal no longer has")
        )
    return expected, problems


def describe(entry: dict) -> list[str]:
    """A signed checkpoint as report lines (the job's and the command's output)."""
    body = entry["checkpoint"]
    return [
        f"Audit checkpoint #{body['seq']} signed at {body['signed_at']} (key {body['key_id']}):",
        *(f"  {head['table']}: {head['count']} records, head {head['last_pk']}" for head in body["tables"]),
    ]
