"""E-mail addresses for the PII detector, validated without the network: Presidio's e-mail
recognizer checks the domain against the public suffix list, which tldextract would download."""

from __future__ import annotations

import tldextract
from presidio_analyzer.predefined_recognizers import EmailRecognizer

# tldextract's default extractor fetches the public suffix list over HTTP on first use. This one
# only ever reads the snapshot bundled with the package: no network, no cache directory.
OFFLINE_TLD = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


class OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's e-mail regex, validated against the bundled public-suffix snapshot."""

    def validate_result(self, pattern_text: str) -> bool:
        return OFFLINE_TLD(pattern_text).fqdn != ""
