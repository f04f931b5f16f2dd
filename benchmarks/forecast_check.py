#!/usr/bin/env python3
"""Forecast quality of `rnn forecast` with its default recipe, next to the baselines and,
on synthetic series, next to the optimal predictor (the conditional mean, known in
closed form). Trains with `rnn forecast train ... --max-time SECONDS`, scores with
`rnn forecast eval --json` (test part: the last 20% of the rows), and prints one table.

Series:
  beijing   ../shared/timeseries/beijing-pm25 (target pm2.5, every weather column as
            features, history 72, horizon 24), when the file is there
  ar2x      y_t = 1.2 y_{t-1} - 0.5 y_{t-2} + 0.8 x_{t-3} + e_t, x_t = 0.9 x_{t-1} + u_t,
            e, u ~ N(0, 1): linear, so the linear AR baseline is close to optimal
  nonlin    y_t = 3 tanh(2 x_{t-L}) + n_t, n_t = 0.8 n_{t-1} + e_t, e ~ N(0, 0.5^2), x_t an
            AR(1) covariate (0.95, N(0, 0.3^2)), L = horizon: the optimal forecast is
            3 tanh(2 x_{o+k-L}) + 0.8^k (y_o - 3 tanh(2 x_{o-L})), which no linear model gives

The optimal predictor is evaluated on the same test windows as the model.

    python benchmarks/forecast_check.py [--seconds 300] [--only beijing,ar2x,nonlin] [--keep DIR]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BEIJING = os.path.join(REPO, "..", "shared", "timeseries", "beijing-pm25", "PRSA_data_2010.1.1-2014.12.31.csv")
sys.path.insert(0, REPO)


def write_csv(path, t, cols):
    names = list(cols)
    with open(path, "w") as f:
        f.write("time," + ",".join(names) + "\n")
        for i in range(len(t)):
            f.write(str(t[i]).replace("T", " ") + "," + ",".join(f"{cols[n][i]:.5f}" for n in names) + "\n")


def ar2x(n, seed, horizon):
    rng = np.random.default_rng(seed)
    x, y = np.zeros(n), np.zeros(n)
    e, u = rng.normal(0, 1, n), rng.normal(0, 1, n)
    for t in range(1, n):
        x[t] = 0.9 * x[t - 1] + u[t]
    for t in range(3, n):
        y[t] = 1.2 * y[t - 1] - 0.5 * y[t - 2] + 0.8 * x[t - 3] + e[t]

    def optimal(o):
        """Conditional mean of y[o+1 .. o+horizon] given everything up to row o."""
        yy = list(y[:o + 1])
        out = []
        for k in range(1, horizon + 1):
            t = o + k
            xl = x[t - 3] if t - 3 <= o else 0.9 ** (t - 3 - o) * x[o]
            v = 1.2 * yy[-1] - 0.5 * yy[-2] + 0.8 * xl
            yy.append(v)
            out.append(v)
        return out
    return {"y": y, "x": x}, optimal


def nonlin(n, seed, horizon):
    rng = np.random.default_rng(seed)
    L = horizon
    x, nz = np.zeros(n), np.zeros(n)
    for t in range(1, n):
        x[t] = 0.95 * x[t - 1] + rng.normal(0, 0.3)
        nz[t] = 0.8 * nz[t - 1] + rng.normal(0, 0.5)
    f = 3 * np.tanh(2 * np.r_[np.zeros(L), x[:-L]])
    y = f + nz

    def optimal(o):
        return [f[o + k] + 0.8 ** k * (y[o] - f[o]) for k in range(1, horizon + 1)]
    return {"y": y, "x": x}, optimal


def rnn(*args, cwd):
    p = subprocess.run([sys.executable, "-m", "rnncli", *map(str, args)], capture_output=True, text=True, cwd=cwd,
                       env=dict(os.environ, PYTHONPATH=REPO))
    if p.returncode != 0:
        raise SystemExit(f"rnn {' '.join(map(str, args))} failed:\n{p.stderr}")
    return p.stdout


def optimal_rmse(ck_path, csv, optimal):
    """RMSE averaged over the horizon of the optimal forecasts on the model's test windows."""
    from rnncli import checkpoint
    from rnncli.forecast import prepare
    ck = checkpoint.load(ck_path)
    s, arr = prepare.load_for_checkpoint(csv, ck)
    fc = ck.task.settings
    enc, dec = arr.windows("test", fc.history, fc.horizon)
    pred = np.array([optimal(int(o)) for o in enc[:, -1]])            # (N, horizon)
    truth = s.values[:, 0][dec]
    return float(np.mean(np.sqrt(np.mean((pred - truth) ** 2, axis=0))))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=300, help="--max-time of each training run")
    ap.add_argument("--only", default="beijing,ar2x,nonlin", help="comma-separated series to run")
    ap.add_argument("--keep", default=None, help="directory for the CSVs and checkpoints (default: a temporary one)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the synthetic series and of training")
    ap.add_argument("--train-args", default="", help="extra options for rnn forecast train")
    a = ap.parse_args()
    d = a.keep or tempfile.mkdtemp(prefix="rnncli-forecast-")
    os.makedirs(d, exist_ok=True)
    rows = []
    for name in a.only.split(","):
        optimal = None
        if name == "beijing":
            if not os.path.exists(BEIJING):
                print(f"skipping beijing: {BEIJING} not found")
                continue
            csv, spec = BEIJING, ["--target", "pm2.5", "--history", "72", "--horizon", "24"]
        else:
            horizon = 24
            gen = {"ar2x": ar2x, "nonlin": nonlin}[name]
            n = 20000
            cols, optimal = gen(n, 1000 + a.seed, horizon)
            t = np.datetime64("2020-01-01T00:00") + np.arange(n).astype("timedelta64[h]")
            csv = os.path.join(d, f"{name}.csv")
            write_csv(csv, t, cols)
            spec = ["--target", "y", "--history", "48", "--horizon", str(horizon)]
        ck = os.path.join(d, f"{name}.npz")
        t0 = time.time()
        rnn("forecast", "train", csv, *spec, "-o", ck, "--max-time", a.seconds, "--seed", a.seed, "-q",
            "--log", os.path.join(d, f"{name}.log.jsonl"), *a.train_args.split(), cwd=d)
        wall = time.time() - t0
        ev = json.loads(rnn("forecast", "eval", "-m", ck, csv, "--json", "-q", cwd=d))
        target = ev["targets"][0]
        r = {k: v[target]["rmse_step_mean"] for k, v in ev["scores"].items()}
        if optimal is not None:
            r["optimal"] = optimal_rmse(ck, csv, optimal)
        epochs = [json.loads(ln) for ln in open(os.path.join(d, f"{name}.log.jsonl"))]
        rows.append((name, r, wall, epochs[-1]["epoch"] if epochs else 0))
        print(json.dumps({"series": name, "rmse_step_mean": r, "train_wall_s": round(wall, 1),
                          "epochs": rows[-1][3]}), flush=True)
    cols = ["model", "persistence", "seasonal naive", "linear AR", "optimal"]
    print(f"\nRMSE averaged over the horizon, test part ({a.seconds:g} s of training each)")
    print(f"{'series':10}" + "".join(f"{c:>16}" for c in cols) + f"{'epochs':>8}")
    for name, r, wall, ep in rows:
        print(f"{name:10}" + "".join(f"{r[c]:16.3f}" if c in r else f"{'-':>16}" for c in cols) + f"{ep:>8}")


if __name__ == "__main__":
    main()
