#!/usr/bin/env python3
"""Generate data/series.csv: a small synthetic hourly multivariate series for the
forecasting demo and tests (`rnn forecast`).

It imitates the electricity demand of a building heated in winter, 16 weeks of
hourly rows from Monday 2023-01-02 00:00 (2,688 rows):

- ``time``: ISO date-time, ``2023-01-02 00:00``.
- ``demand`` (kW, the target): a daily profile that is high in working hours on
  weekdays and low at weekends (daily and weekly seasonality), plus heating that
  follows the outdoor temperature three hours earlier (-1.2 kW per degree), plus
  AR(1) noise (coefficient 0.7, standard deviation 1.5 kW).
- ``temp`` (degrees C, a covariate): a daily cycle peaking mid-afternoon, a slow
  AR(1) weather anomaly and an offset by wind direction.
- ``wind`` (categorical: N, E, S, W): a Markov chain that changes direction about
  once a day; north wind is 2 degrees colder, south wind 1.5 warmer.

Missing values, as real data has them: four runs of 6 to 30 hours and up to 20
single hours without ``demand`` (83 in all with the default arguments), 15 single
hours without ``temp``, 6 without ``wind`` (empty fields). The output is deterministic for a given seed and length: the
same arguments give a byte-identical file (LF line endings, 2 decimals).

Usage:
    python data/make_series.py -o data/series.csv
    python data/make_series.py --seed 1 --weeks 16 > data/series.csv
"""
import argparse
import sys

import numpy as np

START = np.datetime64("2023-01-02T00:00")      # a Monday
WINDS = ["N", "E", "S", "W"]
WIND_TEMP = np.array([-2.0, 0.0, 1.5, 0.0])    # offset of temp by wind direction
LAG = 3                                        # hours from temp to demand


def ar1(rng, n, phi, sd):
    e = rng.normal(0.0, sd, n)
    out = np.empty(n)
    acc = 0.0
    for t in range(n):                         # sequential by definition; n is a few thousand
        acc = phi * acc + e[t]
        out[t] = acc
    return out


def generate(seed: int = 1, weeks: int = 16):
    """-> (times (T,) datetime64[m], demand (T,), temp (T,), wind (T,) str), NaN/'' missing."""
    rng = np.random.default_rng(seed)
    n = weeks * 7 * 24
    t = START + np.arange(n).astype("timedelta64[h]")
    hour = np.arange(n) % 24
    weekday = (np.arange(n) // 24) % 7 < 5     # START is a Monday

    wind_code = np.empty(n, dtype=np.int64)
    wind_code[0] = 0
    change = rng.random(n) < 1 / 24
    new = rng.integers(0, 4, n)
    for i in range(1, n):
        wind_code[i] = new[i] if change[i] else wind_code[i - 1]
    temp = (4.0 + 5.0 * np.sin(2 * np.pi * (hour - 9) / 24) + ar1(rng, n, 0.98, 0.45)
            + WIND_TEMP[wind_code] + rng.normal(0.0, 0.3, n))

    work = np.clip(np.sin(np.pi * (hour - 6) / 13), 0.0, None)     # working hours 6..19
    profile = np.where(weekday, 30.0 * work, 6.0 * work) + 4.0 * np.exp(-0.5 * ((hour - 20) / 2.0) ** 2)
    temp_lagged = np.concatenate([np.full(LAG, temp[0]), temp[:-LAG]])
    demand = 60.0 + profile - 1.2 * temp_lagged + ar1(rng, n, 0.7, 1.5)

    demand = np.round(demand, 2)
    temp = np.round(temp, 2)
    wind = np.array(WINDS, dtype=object)[wind_code]

    for length in (6, 11, 19, 30):             # runs of missing demand
        s = int(rng.integers(48, n - 48 - length))
        demand[s:s + length] = np.nan
    demand[rng.choice(n, 20, replace=False)] = np.nan
    temp[rng.choice(n, 15, replace=False)] = np.nan
    wind[rng.choice(n, 6, replace=False)] = ""
    return t, demand, temp, wind


def write_csv(f, t, demand, temp, wind):
    f.write("time,demand,temp,wind\n")
    for ti, d, x, w in zip(t, demand, temp, wind):
        stamp = str(ti).replace("T", " ")
        f.write(f"{stamp},{'' if np.isnan(d) else f'{d:.2f}'},{'' if np.isnan(x) else f'{x:.2f}'},{w}\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--weeks", type=int, default=16, help="length in weeks of hourly rows (default 16)")
    ap.add_argument("-o", "--output", help="output file (default: standard output)")
    args = ap.parse_args(argv)
    if args.weeks < 1:
        ap.error("--weeks must be at least 1")
    data = generate(args.seed, args.weeks)
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="\n") as f:
            write_csv(f, *data)
    else:
        write_csv(sys.stdout, *data)


if __name__ == "__main__":
    main()
