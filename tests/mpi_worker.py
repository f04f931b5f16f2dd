"""Run under ``mpiexec -n N`` by tests/test_dist.py: the library's distributed path
(rnncli.dist.MPIComm, lm.shard, ShardedLanguageModel, Trainer) in one launch, several
checks, results as JSON (rank 0) and .npz files in OUTDIR.

    python tests/mpi_worker.py OUTDIR CORPUS...
"""
import json
import os
import sys

import numpy as np

from rnncli.dist import connect
from rnncli.lm import shard
from rnncli.lm.prepare import configure, prepare_training
from rnncli.registry import OPTIMIZERS
from rnncli.train import Hooks, ReplicasDiffer, Trainer, flat_zeros_like


class Quiet:
    def note(self, msg):
        pass

    def bar(self, **kw):
        from tqdm import tqdm
        return tqdm(disable=True, **kw)


GIVEN = dict(hidden_dim=5, vocab_size=30, batch_size=8, epochs=1, dtype="float64", val_fraction=0.2, patience=0,
             softmax="class")   # the class softmax, as at the default vocabulary size


class Embedded:
    embeddings = ("U",)      # U keeps the transposed layout, as an input embedding does


def sparse_sum(comm):
    """comm.sum_gradients with a row-sparse U whose used rows differ between the ranks:
    the same buffer as a dense Allreduce, and the union of the rows recorded."""
    rng = np.random.default_rng(comm.rank)
    params = {"W": np.zeros((3, 4)), "U": np.zeros((9, 4)).T, "V": np.zeros((2, 3))}
    grads, flat = flat_zeros_like(Embedded, params, 2)
    mine = np.array([[1, 4], [4, 7]][comm.rank % 2])
    grads["W"][...] = rng.standard_normal((3, 4))
    grads["V"][...] = rng.standard_normal((2, 3))
    grads["U"].T[mine] = rng.standard_normal((2, 4))
    flat[-2:] = 1.5, 10
    dense = comm.allreduce_(flat.copy())
    rows = {"U": mine}
    comm.sum_gradients(flat, grads, rows)
    return bool(np.array_equal(flat, dense)), rows["U"].tolist()


def main(outdir, files):
    comm = connect("require", timeout=20)
    out = {"size": comm.size}
    out["sparse_sum"] = comm.allgather(sparse_sum(comm))

    # each rank reads its own share; the vocabulary must come out identical
    lay = shard.Layout(files)
    cuts = lay.cuts(comm.size)
    setup = prepare_training(files, [], configure(dict(GIVEN)), None, False, None, Quiet(), comm=comm)
    share = [cuts[comm.rank], cuts[comm.rank + 1]]
    out["shares"] = comm.allgather(share)
    out["vocabs"] = comm.allgather(setup.task.data.vocab.words)
    out["owned_pieces"] = comm.allgather(setup.task.own.n_sentences)
    # every rank asked to write its own file: only rank 0 writes anything
    Trainer(setup.cfg, setup.net, setup.params, setup.task, os.path.join(outdir, f"rank{comm.rank}.npz"),
            log_path=os.path.join(outdir, f"rank{comm.rank}.jsonl"), comm=comm).run()

    # one epoch (a few steps) per optimizer, float64: compared with one process in the test
    for opt in OPTIMIZERS:
        s = prepare_training(files, [], configure(dict(GIVEN, optimizer=opt)), None, False, None, Quiet(),
                             comm=comm)
        Trainer(s.cfg, s.net, s.params, s.task, os.path.join(outdir, f"{opt}.npz"), save_best=False,
                comm=comm).run()
        if comm.rank == 0:
            np.savez(os.path.join(outdir, f"{opt}.params.npz"), **s.params)

    # one rank's parameters nudged after the first step: the epoch-end checksum must see it
    s = prepare_training(files, [], configure(dict(GIVEN)), None, False, None, Quiet(), comm=comm)
    nudged = []

    def nudge(*_):
        if comm.rank == comm.size - 1 and not nudged:
            s.params["out.V"][0, 0] += 1e-9
            nudged.append(1)
    try:
        Trainer(s.cfg, s.net, s.params, s.task, os.path.join(outdir, "nudged.npz"), save_best=False,
                hooks=Hooks(batch=nudge), comm=comm).run()
        err = None
    except ReplicasDiffer as e:
        err = str(e)
    out["checksum_errors"] = comm.allgather(err)
    out["nudged_written"] = os.path.exists(os.path.join(outdir, "nudged.npz"))
    if comm.rank == 0:
        with open(os.path.join(outdir, "result.json"), "w") as f:
            json.dump(out, f)
    comm.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
