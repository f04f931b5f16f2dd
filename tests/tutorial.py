"""The tutorial's Elman model with its own parameter names (U, V, W and the biases b,
c) on top of rnncli.nn.network.Network, so tests and the slow reference speak the
tutorial's names. Every function calls the real network; the dicts hold the same
arrays under both names."""
import numpy as np

from rnncli.nn.network import Network
from rnncli.nn.workspace import Workspace  # noqa: F401  (tests use model.Workspace)

NAMES = {"U": "layer0.U", "V": "out.V", "W": "layer0.W", "b": "layer0.b", "c": "out.c"}


def network(p: dict, activation="tanh") -> Network:
    H, C = p["U"].shape
    return Network(C, H, activation=activation, bias="b" in p)


def namespaced(p: dict) -> dict:
    return {NAMES[k]: v for k, v in p.items()}


def tutorial(p: dict) -> dict:
    back = {v: k for k, v in NAMES.items()}
    return {back[k]: v for k, v in p.items()}


def init_params(C, H, rng, dtype="float32", bias=False) -> dict:
    return tutorial(Network(C, H, bias=bias).init(rng, dtype))


def as_layout(p: dict, dtype=None) -> dict:
    return tutorial(network(p).as_layout(namespaced(p), dtype))


def zeros_like_params(p: dict) -> dict:
    return tutorial(network(p).zeros_like(namespaced(p)))


def loss_and_grads(p, batch, grads, ws, bptt_truncate=-1, scale=1.0, dropout=0.0, rng=None, activation="tanh"):
    return network(p, activation).loss_and_grads(namespaced(p), batch, namespaced(grads), ws, bptt_truncate,
                                                 scale, dropout, rng)


def token_nll(p, batch, ws, out=None, chunk=128, activation="tanh"):
    net = network(p, activation)
    S = net.hidden_states(namespaced(p), batch, ws)
    out = np.empty(batch.N) if out is None else out
    return net.out.token_nll({"V": p["V"], **({"c": p["c"]} if "c" in p else {})}, S, batch.y, ws, out,
                             net.cell.bound, chunk=chunk)


def logit_bound(p, hbound=1.0):
    return network(p).out.logit_bound({"V": p["V"], **({"c": p["c"]} if "c" in p else {})}, hbound)
