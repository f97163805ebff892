"""Signed export (audit/export.py): manifest.sig signs manifest.json with the key file's Ed25519
key, and `riskwatch audit verify-export` checks the export offline with the public key alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result

from audit.export import verify_export
from audit.keys import generate, keys_from_settings
from core.settings import get_settings
from riskwatch.cli import main
from tests.dburl import db_url
from tests.unit.audit.audit_helpers import filled


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An export of a filled store and the signer's public key file, as an auditor gets them."""
    tmp = tmp_path_factory.mktemp("signed")
    filled(tmp / "a.db")
    out = tmp / "export"
    mp = pytest.MonkeyPatch()
    mp.setenv("RISKWATCH_DATABASE_URL", db_url(tmp / "a.db"))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        result = runner.invoke(
            main,
            ["audit", "export", "--since", "2000-01-01T00:00:00Z", "--until",
             "2999-01-01T00:00:00Z", "--out", str(out)],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        public = runner.invoke(main, ["keys", "show-public"])
        assert public.exit_code == 0, public.output
    finally:
        get_settings.cache_clear()
        mp.undo()
    (tmp / "public.json").write_text(public.output)
    return out, tmp / "public.json"


def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def _verify(path: Path, public: Path) -> Result:
    return CliRunner().invoke(
        main, ["audit", "verify-export", str(path), "--public-key", str(public)]
    )


def test_an_untouched_export_verifies_with_the_public_key_alone(exported: Any) -> None:
    out, public = exported
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    assert manifest["signed_by"] == keys_from_settings().signing_kid
    assert "private_key" not in public.read_text()
    for target in (out, out / "manifest.json"):
        result = _verify(target, public)
        assert result.exit_code == 0, result.output
        assert "export ok" in result.output


def test_a_changed_file_fails(exported: Any, tmp_path: Path) -> None:
    out, public = exported
    copy = _copy(out, tmp_path / "x")
    lines = (copy / "findings.jsonl").read_bytes().splitlines(keepends=True)
    doc = orjson.loads(lines[0])
    doc["severity"] = "low" if doc["severity"] != "low" else "critical"
    (copy / "findings.jsonl").write_bytes(orjson.dumps(doc) + b"\n" + b"".join(lines[1:]))
    result = _verify(copy, public)
    assert result.exit_code == 1 and "findings.jsonl" in result.output
    assert "changed" in result.output


def test_a_changed_manifest_fails_even_with_matching_hashes(exported: Any, tmp_path: Path) -> None:
    out, public = exported
    copy = _copy(out, tmp_path / "x")
    (copy / "chain.jsonl").write_bytes(b"")
    manifest = orjson.loads((copy / "manifest.json").read_bytes())
    manifest["files"]["chain.jsonl"] = {  # hashes "fixed" to match the cut file
        "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "rows": 0,
    }
    (copy / "manifest.json").write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    result = _verify(copy, public)
    assert result.exit_code == 1 and "manifest.json does not match its signature" in result.output


def test_a_wrong_key_fails(exported: Any, tmp_path: Path) -> None:
    out, _ = exported
    other = generate().public_key().to_dict()
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps(other))
    result = _verify(out, wrong)
    assert result.exit_code == 1 and "not among the public keys" in result.output
    # the same key id with another key: the signature does not verify
    same_kid = tmp_path / "same-kid.json"
    same_kid.write_text(json.dumps({**other, "kid": keys_from_settings().signing_kid}))
    result = _verify(out, same_kid)
    assert result.exit_code == 1 and "does not match its signature" in result.output


def test_an_unsigned_export_fails(exported: Any, tmp_path: Path) -> None:
    out, public = exported
    copy = _copy(out, tmp_path / "x")
    (copy / "manifest.sig").unlink()
    assert verify_export(copy, keys_from_settings().public_keys()) == [
        "missing manifest.sig: the export is not signed or incomplete"
    ]
    assert _verify(copy, public).exit_code == 1
