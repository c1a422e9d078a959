"""Which positions a press kept: its returned key rows matched back to the rows it was given.

kvpress's scorer presses return ``keys.gather(2, indices)``, so every kept row is bit-identical to a row of
the input; an exact integer fingerprint of the rows finds it (and a gather checks the match). AdaKV keeps
every row and records the ones it masks in ``module.masked_key_indices``; those are read instead.
"""

from __future__ import annotations

from typing import Any

import torch


def _row_hash(keys: torch.Tensor, dims: int | None = None) -> torch.Tensor:
    """An exact integer fingerprint of each key row: (..., d) float -> (...,) int64 (equal rows, equal hashes).

    ``dims``: hash only the first ``dims`` coordinates (cheaper; :func:`kept_indices` checks the match).
    """
    bits = {2: torch.int16, 4: torch.int32, 8: torch.int64}[keys.element_size()]
    ints = keys[..., :dims].contiguous().view(bits).long()
    if bits is torch.int64:
        ints = ints >> 32 ^ (ints & 0xFFFFFFFF)  # fold to 32 bits so the weighted sum cannot overflow
    d = ints.shape[-1]
    weights = torch.arange(1, d + 1, dtype=torch.long, device=keys.device) * 1_000_003 % 999_983 + 1
    return (ints * weights).sum(-1)


def kept_indices(before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
    """Positions (in ``before``) of the rows a press returned.

    Parameters
    ----------
    before : (B, H, S, d) keys given to the press.
    after : (B, H, n, d) keys it returned (rows gathered from ``before``).

    Returns
    -------
    (B, H, n) long: ``after[b, h, i] == before[b, h, index[b, h, i]]``.
    """
    for dims in (8, None):  # 8 coordinates tell rotated keys apart; all of them if two rows agree there
        hb, ha = _row_hash(before, dims), _row_hash(after, dims)  # (B, H, S), (B, H, n)
        order = hb.argsort(-1)
        sorted_hb = hb.gather(-1, order)
        where = torch.searchsorted(sorted_hb, ha).clamp(max=hb.shape[-1] - 1)
        index = order.gather(-1, where)
        gathered = before.gather(2, index.unsqueeze(-1).expand_as(after))
        if torch.equal(gathered, after):
            return index
    raise RuntimeError("a press returned key rows that are not rows of its input; cannot tell what it kept")


def keep_mask(module: Any, keys: torch.Tensor, new_keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """What a press's ``compress`` kept in one layer.

    Parameters
    ----------
    module : the attention module the press ran on (AdaKV leaves ``masked_key_indices`` there).
    keys : (B, Hkv, S, d) the keys the press was given; new_keys : (B, Hkv, n, d) the keys it returned.

    Returns
    -------
    mask : (B, Hkv, S) bool, and index : (B, Hkv, n) long positions of the returned rows (None when the
    rows are the positions themselves: nothing removed, or AdaKV's masking).
    """
    b, h, s, _ = keys.shape
    mask = torch.ones(b, h, s, dtype=torch.bool)
    masked = getattr(module, "masked_key_indices", None)
    if masked is not None:  # AdaKV: every row stays in the cache, these are masked at attention time
        batch_i, head_i, seq_i = masked
        mask[batch_i.cpu(), head_i.cpu(), seq_i.cpu()] = False
        return mask, None
    if new_keys.shape[2] == s:
        return mask, None
    index = kept_indices(keys, new_keys).cpu()
    mask.zero_()
    mask.scatter_(2, index, True)
    return mask, index


__all__ = ["kept_indices", "keep_mask"]
