"""Reply tokens: unique per connection and unguessable, also across refills of the random pool."""

from __future__ import annotations

from walnats_django.client.tokens import TOKEN_RANDOM_BYTES, ReplyTokens


def test_tokens_are_unique_and_carry_fresh_random_bits_across_pool_refills() -> None:
    source = ReplyTokens()
    tokens = [source.next() for _ in range(3 * 512 + 7)]
    assert len(set(tokens)) == len(tokens)
    randoms = [t[-2 * TOKEN_RANDOM_BYTES :] for t in tokens]
    assert all(len(r) == 12 and int(r, 16) >= 0 for r in randoms)
    # 48 random bits each: a repeat among ~1,500 would mean the pool is reused.
    assert len(set(randoms)) == len(randoms)
    assert [int(t[: -2 * TOKEN_RANDOM_BYTES], 16) for t in tokens[:3]] == [1, 2, 3]


def test_two_connections_draw_different_random_bits() -> None:
    first, second = ReplyTokens(), ReplyTokens()
    assert first.next()[1:] != second.next()[1:]
