#!/usr/bin/env python3
"""The same model in PyTorch, for comparison only (PyTorch is never a dependency).

Model (--cell rnn): s_t = tanh(U x_t + W s_{t-1}), o_t = softmax(V s_t), no biases; U
is an embedding table (row i = column i of U), the recurrence is ``nn.RNN`` with its
input weight fixed to the identity so that U x_t enters unchanged.
--cell gru|lstm: an embedding of size H into ``nn.GRU`` / ``nn.LSTM`` (PyTorch's
word_language_model layout), the same output layer.

  speed    tokens/s of plain-SGD training on random token streams, batch B x T
           (the layout of PyTorch's word_language_model example)
  quality  train with Adam on the token ids of an `rnn tokenize` corpus for a fixed
           time, sentence batches with a zero initial state per sentence (rnncli's
           convention), then score validation and test corpora the way `rnn eval` does
"""
import argparse
import json
import math
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class ElmanLM(nn.Module):
    def __init__(self, C, H, cell="rnn"):
        super().__init__()
        self.U = nn.Embedding(C, H)
        self.cell = cell
        if cell != "rnn":
            self.rnn = {"gru": nn.GRU, "lstm": nn.LSTM}[cell](H, H, batch_first=True)
            self.V = nn.Linear(H, C, bias=False)
            with torch.no_grad():
                self.U.weight.uniform_(-C ** -0.5, C ** -0.5)
                self.V.weight.uniform_(-H ** -0.5, H ** -0.5)
            return
        self.rnn = nn.RNN(H, H, nonlinearity="tanh", bias=False, batch_first=True)
        self.V = nn.Linear(H, C, bias=False)
        with torch.no_grad():
            self.U.weight.uniform_(-C ** -0.5, C ** -0.5)
            self.rnn.weight_hh_l0.uniform_(-H ** -0.5, H ** -0.5)
            self.V.weight.uniform_(-H ** -0.5, H ** -0.5)
            self.rnn.weight_ih_l0.copy_(torch.eye(H))
        self.rnn.weight_ih_l0.requires_grad_(False)

    def forward(self, x, h0=None):                       # x: (B, T)
        out, h = self.rnn(self.U(x), h0)
        return self.V(out), h                            # (B, T, C)


def speed(a):
    torch.manual_seed(a.seed)
    m = ElmanLM(a.C, a.H, a.cell)
    opt = torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.005)
    stream = torch.randint(0, a.C, (a.B, (a.chunks + 3) * a.T + 1))
    h = torch.zeros(1, a.B, a.H)
    if a.cell == "lstm":
        h = (h, torch.zeros(1, a.B, a.H))
    t0 = None
    for i in range(a.chunks + 3):
        if i == 3:
            t0 = time.perf_counter()
        x = stream[:, i * a.T:(i + 1) * a.T]
        y = stream[:, i * a.T + 1:(i + 1) * a.T + 1]
        logits, h = m(x, tuple(s.detach() for s in h) if isinstance(h, tuple) else h.detach())
        loss = F.cross_entropy(logits.reshape(-1, a.C), y.reshape(-1), reduction="sum") / a.B
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    dt = time.perf_counter() - t0
    print(f"tokens_per_s={a.chunks * a.B * a.T / dt:.1f}")


def load_corpus(path):
    with np.load(path, allow_pickle=False) as z:
        return z["ids"].astype(np.int64), z["offsets"].astype(np.int64), z["vocab"].shape[0]


def sentence_batches(offsets, B, rng=None):
    """Sentence indices per batch; when training, shuffled and then grouped by length
    inside windows of 50 batches (less padding), batch order shuffled again."""
    idx = np.arange(len(offsets) - 1)
    if rng is None:
        yield from (idx[i:i + B] for i in range(0, len(idx), B))
        return
    lens = np.diff(offsets)
    idx = rng.permutation(idx)
    out = []
    for i in range(0, len(idx), 50 * B):
        w = idx[i:i + 50 * B]
        w = w[np.argsort(lens[w], kind="stable")]
        out.extend(w[j:j + B] for j in range(0, len(w), B))
    yield from (out[k] for k in rng.permutation(len(out)))


def make_batch(ids, offsets, sel):
    lens = offsets[sel + 1] - offsets[sel] - 1           # predicted tokens per sentence
    T = int(lens.max())
    x = np.zeros((len(sel), T), np.int64)
    y = np.zeros((len(sel), T), np.int64)
    for b, i in enumerate(sel):
        s = ids[offsets[i]:offsets[i + 1]]
        x[b, :len(s) - 1] = s[:-1]
        y[b, :len(s) - 1] = s[1:]
    return torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(lens)


def packed_nll(m, x, y, lens):
    """Summed NLL with the output layer applied to real tokens only (no padding rows)."""
    pe = nn.utils.rnn.pack_padded_sequence(m.U(x), lens, batch_first=True, enforce_sorted=False)
    out, _ = m.rnn(pe)
    py = nn.utils.rnn.pack_padded_sequence(y, lens, batch_first=True, enforce_sorted=False)
    return F.cross_entropy(m.V(out.data), py.data, reduction="sum")


def score(m, ids, offsets, C):
    m.eval()
    nll, n = 0.0, 0
    with torch.no_grad():
        for sel in sentence_batches(offsets, 256):
            x, y, lens = make_batch(ids, offsets, sel)
            nll += packed_nll(m, x, y, lens).item()
            n += int(lens.sum())
    m.train()
    return nll / n


def quality(a):
    torch.manual_seed(a.seed)
    ids, offsets, C = load_corpus(a.train)
    m = ElmanLM(C, a.H, a.cell)
    params = [p for p in m.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=a.lr)
    rng = np.random.default_rng(a.seed)
    t0 = time.perf_counter()
    epochs, steps, toks = 0.0, 0, 0
    nb = math.ceil((len(offsets) - 1) / a.B)
    done = False
    while not done:
        for k, sel in enumerate(sentence_batches(offsets, a.B, rng)):
            if time.perf_counter() - t0 >= a.max_time:
                epochs += k / nb
                done = True
                break
            x, y, lens = make_batch(ids, offsets, sel)
            loss = packed_nll(m, x, y, lens) / len(sel)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, a.clip)
            opt.step()
            steps += 1
            toks += int(lens.sum())
        else:
            epochs += 1
    res = {"impl": f"torch_adam_{a.cell}", "epochs": round(epochs, 3), "steps": steps, "train_tokens": toks,
           "seconds": round(time.perf_counter() - t0, 1)}
    for name, path in [("val", a.val), ("test", a.test)]:
        if path:
            vi, vo, vc = load_corpus(path)
            assert vc == C, "corpora must share the training vocabulary (rnn tokenize -m MODEL)"
            ce = score(m, vi, vo, C)
            res[f"{name}_ppl"] = round(math.exp(ce), 2)
    print(json.dumps(res))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["speed", "quality"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cell", choices=["rnn", "gru", "lstm"], default="rnn")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--C", type=int, default=8000)
    ap.add_argument("--H", type=int, default=100)
    ap.add_argument("--B", type=int, default=32)
    ap.add_argument("--T", type=int, default=35)
    ap.add_argument("--chunks", type=int, default=30)
    ap.add_argument("--train", help="quality: tokenized training corpus (.npz from rnn tokenize)")
    ap.add_argument("--val")
    ap.add_argument("--test")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--clip", type=float, default=5.0)
    ap.add_argument("--max-time", type=float, default=300)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    speed(a) if a.mode == "speed" else quality(a)


if __name__ == "__main__":
    main()
