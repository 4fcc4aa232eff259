#!/usr/bin/env python3
"""The training step of `adallava bench --synthetic ada-llava-small --train-step` in PyTorch.

Same shapes (CLIP-style tower 4x128 on 96 px images with 12 px patches, 2-layer GELU projector,
LLaMA decoder 8 layers x 192 with 6 heads and MLP 512, vocabulary 640, AdaLLaVA-L scheduler on
the latency token after layer 4), same work per step (8 samples of 1 image + 48 text tokens =
114 positions, the last 4 tokens supervised; vision frozen; masked-form gated layers; Gumbel
top-k plan with straight-through; cross-entropy; AdamW), in fp32 as one padded batch, which is
how PyTorch runs fastest. Prints one JSON object like the engine's benchmark.

    python3 bench/pytorch_train_step.py [--threads 2] [--steps 3] [--batch 8]

Needs Debian's python3-torch and an optimised BLAS behind it (libopenblas0-pthread: Debian's
torch calls the reference BLAS otherwise, at about 4 GFLOP/s); neither is a dependency of the
project. OpenBLAS runs single-threaded under torch's own threads, its fastest setting here
(2 × 2 threads oversubscribe the 2 vCPUs and run 2x slower).
"""
import argparse
import json
import math
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import torch
import torch.nn as nn
import torch.nn.functional as F

H, I, LAYERS, HEADS, VOCAB, PREFIX = 192, 512, 8, 6, 640, 4
VC, VI, VLAYERS, VHEADS, IMG, PATCH = 128, 512, 4, 4, 96, 12
LAT = 256  # latency encoding width


def attention(q, k, v, causal=False):  # torch 1.13 (Debian 12) has no scaled_dot_product_attention
    s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if causal:
        t = s.shape[-1]
        s = s.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf"))
    return F.softmax(s, -1) @ v


class ClipLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(VC), nn.LayerNorm(VC)
        self.qkv, self.out = nn.Linear(VC, 3 * VC), nn.Linear(VC, VC)
        self.fc1, self.fc2 = nn.Linear(VC, VI), nn.Linear(VI, VC)

    def forward(self, x):
        b, t, _ = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, VHEADS, VC // VHEADS).permute(2, 0, 3, 1, 4)
        a = attention(q, k, v).transpose(1, 2).reshape(b, t, VC)
        x = x + self.out(a)
        h = self.fc1(self.ln2(x))
        return x + self.fc2(h * torch.sigmoid(1.702 * h))


class Tower(nn.Module):
    def __init__(self):
        super().__init__()
        n = (IMG // PATCH) ** 2
        self.patch = nn.Conv2d(3, VC, PATCH, PATCH, bias=False)
        self.cls = nn.Parameter(torch.randn(VC) * 0.02)
        self.pos = nn.Parameter(torch.randn(n + 1, VC) * 0.02)
        self.pre = nn.LayerNorm(VC)
        self.layers = nn.ModuleList(ClipLayer() for _ in range(VLAYERS))

    def forward(self, px):
        x = self.patch(px).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], 1, VC), x], 1) + self.pos
        x = self.pre(x)
        for layer in self.layers:
            x = layer(x)
        return x[:, 1:]


class RMSNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(H))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * self.w


def rope(x, cos, sin):
    a, b = x.chunk(2, -1)
    return x * cos + torch.cat([-b, a], -1) * sin


class Layer(nn.Module):
    def __init__(self):
        super().__init__()
        self.n1, self.n2 = RMSNorm(), RMSNorm()
        self.q, self.k, self.v, self.o = (nn.Linear(H, H, bias=False) for _ in range(4))
        self.gate, self.up, self.down = nn.Linear(H, I, bias=False), nn.Linear(H, I, bias=False), nn.Linear(I, H, bias=False)

    def forward(self, x, cos, sin, gate):  # gate: (batch,) 1 = run, 0 = skip (masked form)
        b, t, _ = x.shape
        h = self.n1(x)
        q, k, v = (p(h).view(b, t, HEADS, H // HEADS).transpose(1, 2) for p in (self.q, self.k, self.v))
        a = attention(rope(q, cos, sin), rope(k, cos, sin), v, causal=True)
        x = x + self.o(a.transpose(1, 2).reshape(b, t, H)) * gate[:, None, None]
        h = self.n2(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h)) * gate[:, None, None]


class AdaLlava(nn.Module):
    def __init__(self):
        super().__init__()
        self.tower = Tower().requires_grad_(False)
        self.proj = nn.Sequential(nn.Linear(VC, H), nn.GELU(), nn.Linear(H, H))
        self.embed = nn.Embedding(VOCAB, H)
        self.layers = nn.ModuleList(Layer() for _ in range(LAYERS))
        self.norm, self.head = RMSNorm(), nn.Linear(H, VOCAB, bias=False)
        self.lat = nn.Sequential(nn.LayerNorm(LAT), nn.Linear(LAT, H), nn.GELU(), nn.Linear(H, H))
        self.sched = nn.Linear(H, LAYERS - PREFIX)

    def forward(self, px, ids, units, lat_pos):
        with torch.no_grad():
            feats = self.tower(px)
        img = self.proj(feats)
        emb = self.embed(ids)
        freq = torch.arange(LAT // 2) / (LAT // 2)
        enc = torch.cat([torch.sin(units[:, None] / 10000 ** freq), torch.cos(units[:, None] / 10000 ** freq)], -1)
        lat = self.lat(enc)[:, None]
        x = torch.cat([emb[:, :1], img, emb[:, 1:lat_pos], lat, emb[:, lat_pos:]], 1)
        t = x.shape[1]
        inv = 1.0 / 10000 ** (torch.arange(0, H // HEADS, 2) / (H // HEADS))
        ang = torch.arange(t)[:, None] * inv[None]
        cos, sin = torch.cat([ang.cos()] * 2, -1), torch.cat([ang.sin()] * 2, -1)
        ones = torch.ones(x.shape[0])
        for i, layer in enumerate(self.layers):
            if i == PREFIX:  # scheduler on the latency row; n-times Gumbel top-k with straight-through
                logits = self.sched(x[:, 1 + img.shape[1] + lat_pos - 1])
                soft = F.softmax((logits - torch.log(-torch.log(torch.rand_like(logits)))) / 5, -1)
                hard = torch.zeros_like(soft)
                for r in range(x.shape[0]):
                    hard[r, soft[r].topk(int(units[r])).indices] = 1
                plan = hard - soft.detach() + soft
            x = layer(x, cos, sin, ones if i < PREFIX else plan[:, i - PREFIX])
        return self.head(self.norm(x))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--text-tokens", type=int, default=48)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    m = AdaLlava()
    opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-4)
    b, n_img = a.batch, (IMG // PATCH) ** 2
    px = torch.randn(b, 3, IMG, IMG)
    ids = torch.randint(3, VOCAB - 1, (b, a.text_tokens + 1))
    lat_pos = ids.shape[1] - 4  # latency token right before the supervised answer
    positions = 1 + n_img + ids.shape[1]  # image replaces one placeholder; + latency token
    labels = torch.full((b, positions), -100)
    labels[:, -4:] = ids[:, -4:]
    times = []
    for step in range(a.steps + 1):
        t0 = time.perf_counter()
        units = torch.randint(0, LAYERS - PREFIX + 1, (b,)).float()
        logits = m(px, ids, units, lat_pos)
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, VOCAB), labels[:, 1:].reshape(-1), ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        if step:  # the first step warms up
            times.append(time.perf_counter() - t0)
    step_s = sum(times) / len(times)
    print(json.dumps({"framework": "pytorch " + torch.__version__, "threads": a.threads, "batch": b,
                      "sequence_tokens_per_sample": positions, "step_ms": step_s * 1000,
                      "tokens_per_s": b * positions / step_s, "samples_per_s": b / step_s}))


if __name__ == "__main__":
    main()
