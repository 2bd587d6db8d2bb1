"""Token counts for transcripts, chunks and prompts, computed offline.

tiktoken fetches its vocabularies from the internet the first time an encoding is asked for by
name, which fails on servers without outbound access. We ship OpenAI's `o200k_base` vocabulary
(the encoding of GPT-4o and later models) in `services/data/` and build the encoding from that
file, so counting never touches the network.
"""

from __future__ import annotations

import base64
import functools
import gzip
from pathlib import Path

import tiktoken

ENCODING_NAME = "o200k_base"

_VOCABULARY_PATH = Path(__file__).parent / "data" / "o200k_base.tiktoken.gz"

# The split pattern and special tokens are part of the encoding's definition, not of the
# vocabulary file; they must match tiktoken's own o200k_base or counts drift from the API's.
_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
_SPECIAL_TOKENS = {"<|endoftext|>": 199999, "<|endofprompt|>": 200018}


def _read_ranks(path: Path) -> dict[bytes, int]:
    ranks: dict[bytes, int] = {}
    with gzip.open(path, "rb") as file:
        for line in file:
            if not line.strip():
                continue
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


@functools.cache
def encoding() -> tiktoken.Encoding:
    """The shared `o200k_base` encoding, built once per process from the bundled vocabulary."""
    return tiktoken.Encoding(
        name=ENCODING_NAME,
        pat_str=_PATTERN,
        mergeable_ranks=_read_ranks(_VOCABULARY_PATH),
        special_tokens=_SPECIAL_TOKENS,
    )


def count_tokens(text: str) -> int:
    """How many `o200k_base` tokens `text` costs; works with no network."""
    if not text:
        return 0
    # Transcripts are untrusted text: a literal "<|endoftext|>" in a caption is counted as the
    # ordinary characters it is rather than raising or being read as a control token.
    return len(encoding().encode_ordinary(text))
