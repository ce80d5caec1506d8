"""One projection for an attention layer's query, key and value (before dynamic int8 quantisation).

A BERT self-attention layer projects the same hidden states three times (``query``, ``key``, ``value``,
each ``D x D``). Under dynamic quantisation every ``Linear`` call also quantises its input on the fly, so
the three calls quantise the same activations three times and run three small int8 GEMMs. Fusing them into
one ``D x 3D`` projection quantises once and runs one larger GEMM, with the same result: per-channel
weight scales are per output row (concatenating rows keeps them) and the activation scale depends only on
the input, which is the same tensor.

Measured with all-MiniLM-L6-v2 on two CPU cores (int8, batches of 32 SciFact pairs, fbgemm): at 128
tokens the fused projection scored 1.14x the three projections in a short interleaved test, but only
1.00x in ``bench/ce_scoring_speed.py`` (same scores, a gain within the machine's noise); at 256 tokens it
was 0.97x in both (the larger int8 GEMM is then the slower one). So :class:`FusedQKV` keeps both forms and
picks by sequence length: fused up to ``max_tokens`` (128), the three original projections above it.

The layer still calls ``self.query(x)``, ``self.key(x)``, ``self.value(x)``: each is replaced by a
:class:`_Part` of one shared :class:`FusedQKV`, which computes the three projections on the first call for
an input tensor and serves the other two from that result. A call on another tensor (cross-attention)
recomputes, so the answer is right whatever the calling code does.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["FusedQKV", "fuse_qkv"]

MAX_FUSED_TOKENS = 128
"""Sequence length up to which the fused projection is used (measured faster there; slower at 256)."""


class FusedQKV(nn.Module):
    """``[query; key; value]`` as one ``Linear`` (``proj``) next to the three originals (``separate``);
    ``part(x, i)`` is projection ``i`` of ``x``, by ``proj`` when ``x`` has at most ``max_tokens``
    positions (its second-to-last dimension), else by ``separate[i]``."""

    def __init__(
        self, query: nn.Linear, key: nn.Linear, value: nn.Linear, *, max_tokens: int = MAX_FUSED_TOKENS
    ) -> None:
        super().__init__()
        self.width = query.out_features
        self.max_tokens = int(max_tokens)
        self.separate = nn.ModuleList([query, key, value])
        self.proj = nn.Linear(query.in_features, 3 * self.width, bias=query.bias is not None)
        with torch.no_grad():
            self.proj.weight.copy_(torch.cat([query.weight, key.weight, value.weight]))
            if self.proj.bias is not None:
                assert query.bias is not None and key.bias is not None and value.bias is not None
                self.proj.bias.copy_(torch.cat([query.bias, key.bias, value.bias]))
        self._input: torch.Tensor | None = None
        self._output: torch.Tensor | None = None

    def part(self, x: torch.Tensor, i: int) -> torch.Tensor:
        if x.dim() >= 2 and x.shape[-2] > self.max_tokens:
            return self.separate[i](x)
        if self._input is not x:
            self._output = self.proj(x)
            self._input = x
        assert self._output is not None
        out = self._output[..., i * self.width : (i + 1) * self.width]
        if i == 2:  # value is the last of the three calls: let the batch's tensors go
            self._input = self._output = None
        return out


class _Part(nn.Module):
    def __init__(self, fused: FusedQKV, index: int) -> None:
        super().__init__()
        self._fused = [fused]  # a plain list: the shared module is registered once, on the layer
        self.index = index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fused[0].part(x, self.index)


def fuse_qkv(model: nn.Module, *, max_tokens: int = MAX_FUSED_TOKENS) -> int:
    """Replace the ``query``/``key``/``value`` ``Linear`` triples of every attention layer of ``model``
    (in place) by a :class:`FusedQKV`; returns how many layers were fused. Layers whose three projections
    differ in shape are left alone."""
    n = 0
    for module in list(model.modules()):
        q, k, v = (getattr(module, name, None) for name in ("query", "key", "value"))
        if not all(isinstance(m, nn.Linear) for m in (q, k, v)):
            continue
        assert isinstance(q, nn.Linear) and isinstance(k, nn.Linear) and isinstance(v, nn.Linear)
        if {(m.in_features, m.out_features, m.bias is None) for m in (q, k, v)} != {
            (q.in_features, q.out_features, q.bias is None)
        }:
            continue
        fused = FusedQKV(q, k, v, max_tokens=max_tokens)
        module.qkv = fused
        module.query, module.key, module.value = _Part(fused, 0), _Part(fused, 1), _Part(fused, 2)
        n += 1
    return n
