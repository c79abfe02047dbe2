"""The Adaptor of SPEC 5 / 6 in plain PyTorch (nn.MultiheadAttention, nn.LayerNorm,
F.normalize) with the reference state_dict names: the independent model of the parity
tests (pretrain_ref.py), of the image-path fixtures (adaptor_image_ref.py) and of the
PyTorch side of bench_pretrain. Attention is sequence-first as in the reference (pooled
mode: [1, batch, P]); block() takes batch-first token sequences [batch, tokens, P]."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class Layer(nn.Module):
    def __init__(self, P, FF, heads):
        super().__init__()
        self.attn = nn.MultiheadAttention(P, heads, dropout=0.0)
        self.linear1 = nn.Linear(P, FF)
        self.linear2 = nn.Linear(FF, P)
        self.norm1 = nn.LayerNorm(P, eps=1e-5)
        self.norm2 = nn.LayerNorm(P, eps=1e-5)

    def ffn(self, x):
        return self.norm2(x + self.linear2(torch.relu(self.linear1(x))))

    def block(self, x, ctx, pad=None):
        """SPEC 6: x attends to ctx (pad: True = padded key), residual on x."""
        q, kv = x.transpose(0, 1), ctx.transpose(0, 1)
        a = self.attn(q, kv, kv, key_padding_mask=pad, need_weights=False)[0].transpose(0, 1)
        return self.ffn(self.norm1(x + a))

    def pooled(self, src, query):
        """SPEC 5: MHA(Q = query, K = V = src), residual on src."""
        a = self.attn(query, src, src, need_weights=False)[0]
        return self.ffn(self.norm1(src + a))


class Adaptor(nn.Module):
    def __init__(self, DV, DT, P, FF, heads, layers):
        super().__init__()
        self.projection = nn.Module()
        self.projection.visual_projection = nn.Linear(DV, P, bias=False)
        self.projection.text_projection = nn.Linear(DT, P, bias=False)
        self.adaptor_module = nn.Module()
        self.adaptor_module.encoder = nn.ModuleList([Layer(P, FF, heads) for _ in range(layers)])
        self.logit_scale = nn.Parameter(torch.tensor(2.6592))

    def pooled(self, xv, xt):
        """SPEC 5: normalised image and text outputs [b, P] of pooled embeddings."""
        v = F.normalize(self.projection.visual_projection(xv), dim=-1)[None]
        t = F.normalize(self.projection.text_projection(xt), dim=-1)[None]
        for layer in self.adaptor_module.encoder:
            v = layer.pooled(v, t)
            t = layer.pooled(t, v)
        return F.normalize(v[0], dim=-1), F.normalize(t[0], dim=-1)

    def loss(self, xv, xt, w_img):
        """SPEC 5's asymmetric contrastive loss of one batch."""
        v, t = self.pooled(xv, xt)
        logits = self.logit_scale.exp() * t @ v.T  # [text, image]
        target = torch.arange(len(xv))
        return ((1 - w_img) * F.cross_entropy(logits.T, target)
                + w_img * F.cross_entropy(logits, target))
