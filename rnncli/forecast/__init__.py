"""Time-series forecasting for rnncli (`rnn forecast`). One line a module, in the
order the data flows:

- ``settings``: the data settings stored with the model, the model options and
  the training recipe of `rnn forecast train`.
- ``table``: a CSV file read once: encoding, header, rows, columns by name, numbers and missing fields.
- ``time``: the time index (parsing, order, modal step, gaps, future stamps) and calendar features.
- ``features``: which columns are features, numbers or one-hot categories, filling missing values, the scaler.
- ``series``: ``Series`` and ``read_csv``/``read_like``: a table read as a time series (table + time + features).
- ``windows``: the chronological training/validation/test split and the forecasting windows (row indices).
- ``baselines``: persistence, seasonal naive and linear autoregressive forecasts on the model's windows.
- ``metrics``: RMSE, MAE and MASE per horizon step and overall, missing targets ignored.
- ``task``: the series as model arrays, the training task, and what a checkpoint keeps of it.
- ``prepare``: everything `forecast train` needs before its first step, and the reading predict and eval share.
- ``evaluate``: a checkpoint scored beside the baselines, and the forecast after a given row.
- ``plots``: forecast and error-by-horizon pictures (matplotlib, optional).

Bad data and settings raise ``rnncli.errors.DataError``, one line naming the file;
the CLI prints it. Only ``task``, ``prepare`` and ``evaluate`` know about the network.
"""
