"""What a training run starts from, whatever the task: the parameters, training state
and optimizer state (a new initialisation, or a resumed checkpoint's with the changes
the options ask for), and the ``Setup`` a task's prepare module assembles: settled
training settings, network, parameters and task, ready to become a Trainer."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import Config
from .train import Trainer


@dataclass
class Setup:
    cfg: Config
    net: object                 # nn.network.Network, nn.seq2seq.Seq2Seq
    params: dict
    task: object                # lm.task.LanguageModel, forecast.task.ForecastTask
    state: dict | None
    opt_state: dict | None

    def trainer(self, output: str, log_path: str | None = None, comm=None) -> Trainer:
        return Trainer(self.cfg, self.net, self.params, self.task, output, self.state, self.opt_state,
                       log_path=log_path, comm=comm)


def starting_point(net, cfg: Config, ck, note=lambda msg: None):
    """(params, state, optimizer state) to train from: a resumed checkpoint's (the
    optimizer's state starts afresh when --optimizer changed, the schedule when
    --lr-schedule changed, and a changed --lr replaces the rate it had reached) or a
    new initialisation."""
    if ck is None:
        return net.init(np.random.default_rng(cfg.seed), cfg.dtype, cfg.recurrent_init), None, None
    opt_state = ck.opt_state
    if ck.config.optimizer != cfg.optimizer:
        opt_state = {}
        note(f"note: optimizer changed from {ck.config.optimizer} to {cfg.optimizer}; its state starts afresh")
    state = ck.state
    sched = (state or {}).get("schedule")
    # the stored schedule holds the rate it had reached; a --lr or --lr-schedule given on
    # resume that differs from the checkpoint's says the user wants another one from here
    if sched and ck.config.lr_schedule != cfg.lr_schedule:
        state = {k: v for k, v in state.items() if k != "schedule"}
        note(f"note: learning-rate schedule changed from {ck.config.lr_schedule} to {cfg.lr_schedule}; "
             f"it starts afresh at --lr {cfg.lr:g}")
    elif sched and ck.config.lr != cfg.lr:
        state = dict(state, schedule=dict(sched, lr=cfg.lr))
        note(f"note: --lr {cfg.lr:g} replaces the rate the checkpoint's schedule had reached ({sched['lr']:g})")
    return net.as_layout(ck.params, np.dtype(cfg.dtype)), state, opt_state
