from __future__ import annotations

import gzip
import hashlib
import socket
import time
from pathlib import Path

import pytest

import services.tokens
from services.tokens import count_tokens, encoding

# The digest tiktoken itself checks o200k_base.tiktoken against when it downloads it.
O200K_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"


def test_bundled_vocabulary_is_openais_o200k_base() -> None:
    path = Path(services.tokens.__file__).parent / "data" / "o200k_base.tiktoken.gz"

    assert hashlib.sha256(gzip.decompress(path.read_bytes())).hexdigest() == O200K_SHA256
    assert path.stat().st_size < 5 * 1024 * 1024


def test_counts_tokens_with_no_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # An empty tiktoken cache: a download attempt could not be served from an earlier run.
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    encoding.cache_clear()
    try:
        assert count_tokens("hello world") == 2
    finally:
        encoding.cache_clear()


def test_counts_match_the_openai_encoding() -> None:
    assert encoding().encode_ordinary("hello world") == [24912, 2375]
    assert count_tokens("Hello, world! How are you today?") == 9
    assert count_tokens("") == 0


def test_counts_non_english_text() -> None:
    assert 0 < count_tokens("こんにちは世界、今日はいい天気ですね。") < 20
    assert 0 < count_tokens("Ça va très bien, merci beaucoup !") < 15


def test_special_token_text_is_counted_as_plain_text() -> None:
    assert count_tokens("<|endoftext|>") > 1


def test_counting_a_three_hour_transcript_is_fast() -> None:
    count_tokens("warm up the encoding")
    lines = [f"and at minute {i // 20} we talked about topic number {i} in some detail" for i in range(3000)]

    started = time.perf_counter()
    total = sum(count_tokens(line) for line in lines)
    elapsed = time.perf_counter() - started

    assert total > 30_000
    assert elapsed < 0.5
