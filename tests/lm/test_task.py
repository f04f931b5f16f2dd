"""The language-model task (rnncli/lm/task.py) and its sharded form on one process."""
import numpy as np

from rnncli import dist
from rnncli.lm.task import LanguageModel, ShardedLanguageModel


def test_sharded_task_on_one_process_is_the_task(tmp_path):
    """ShardedLanguageModel on SingleProcess: the batches, gradients and validation
    loss of LanguageModel (the pieces it sends to itself are the ones it owns)."""
    from rnncli.config import Config
    from rnncli.lm.task import LMData
    from rnncli.nn.network import Network
    from rnncli.nn.workspace import Workspace

    from ..helpers import toy_corpus
    enc, vocab = toy_corpus()
    cfg = Config(batch_size=7, dtype="float64")
    train, val = enc.subset(np.arange(100)), enc.subset(np.arange(100, 120))
    net = Network(len(vocab), 6)
    params = net.init(np.random.default_rng(0), "float64")
    a = LanguageModel(net, LMData(vocab, val), train, cfg)
    b = ShardedLanguageModel(net, LMData(vocab, val), train, val, cfg, dist.SingleProcess())
    ws = Workspace(1)
    ba, bb = a.epoch_batches(3), b.epoch_batches(3)
    assert all(np.array_equal(x, y) for x, y in zip(ba, bb)) and a.units(ba) == b.units(bb)
    ga, gb = net.zeros_like(params), net.zeros_like(params)
    for sel in ba[:3]:
        assert a.loss_and_grads(params, sel, ga, ws, None) == b.loss_and_grads(params, sel, gb, ws, None)
        assert all(np.array_equal(ga[k], gb[k]) for k in ga)
    assert a.validation_loss(params, ws) == b.validation_loss(params, ws)
