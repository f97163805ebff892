"""Hashed text features shared by training and inference: character 3-5-grams (or 4-5-grams, per
model) of the normalised text and word 1-2-grams, each hashed into ``2**bits`` buckets with a
fixed polynomial hash (numpy, no Python ``hash``: the same text gives the same indices in every
process)."""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import numpy.typing as npt

BITS = 18
#: long texts are scored on their head and tail (a jailbreak template states its frame early and
#: its payload late); bounds the cost per text
HEAD, TAIL = 1500, 500
_WORD = re.compile(r"\w+", re.UNICODE)
_P = np.uint64(1000003)
_MASK = np.uint64(0xFFFFFFFF)
_SEEDS = {3: np.uint64(0x9E3779B1), 4: np.uint64(0x85EBCA77), 5: np.uint64(0xC2B2AE3D)}
_WSEED, _BSEED = np.uint64(0x27D4EB2F), np.uint64(0x165667B1)

IntArray = npt.NDArray[np.int64]


def normalise(text: str) -> str:
    """NFKC, lower case, whitespace runs folded to one space; head and tail of long texts."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = " ".join(text.split())
    if len(text) > HEAD + TAIL:
        text = text[:HEAD] + " " + text[-TAIL:]
    return text


def _mix(h: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    # murmur3 finaliser on 32 bits, so nearby codes spread over the buckets
    h = h & _MASK
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(0x85EBCA6B)) & _MASK
    h ^= h >> np.uint64(13)
    h = (h * np.uint64(0xC2B2AE35)) & _MASK
    h ^= h >> np.uint64(16)
    return h


def _char_grams(text: str, char_min: int = 3) -> list[npt.NDArray[np.uint64]]:
    codes = np.frombuffer(f" {text} ".encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    out = []
    for n, seed in _SEEDS.items():
        if n < char_min or len(codes) < n:
            continue
        m = len(codes) - n + 1
        h = np.full(m, seed, dtype=np.uint64)
        for k in range(n):
            h = (h * _P + codes[k : k + m]) & _MASK
        out.append(_mix(h))
    return out


def _word_grams(text: str) -> list[npt.NDArray[np.uint64]]:
    words = _WORD.findall(text)
    if not words:
        return []
    # per word: a polynomial hash over its code points (words are short; one join, one pass)
    w = np.empty(len(words), dtype=np.uint64)
    for i, word in enumerate(words):
        h = 2166136261
        for ch in word:
            h = ((h ^ ord(ch)) * 16777619) & 0xFFFFFFFF
        w[i] = h
    uni = _mix(w ^ _WSEED)
    out = [uni]
    if len(w) > 1:
        out.append(_mix((w[:-1] * _P + w[1:] + _BSEED) & _MASK))
    return out


def hashed(
    text: str, bits: int = BITS, char_min: int = 3
) -> tuple[IntArray, npt.NDArray[np.float32]]:
    """Bucket indices and values (counts, then L2-normalised) of one text's n-grams: character
    ``char_min``-5-grams and word 1-2-grams."""
    norm = normalise(text)
    parts = _char_grams(norm, char_min) + _word_grams(norm)
    if not parts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    idx = (np.concatenate(parts) & np.uint64((1 << bits) - 1)).astype(np.int64)
    uniq, counts = np.unique(idx, return_counts=True)
    vals = np.sqrt(counts.astype(np.float32))  # dampen repeats (sublinear tf)
    vals /= np.float32(np.sqrt(float((vals * vals).sum())))
    return uniq, vals
