"""Time-series forecasting for rnncli (`rnn forecast`): the data side.

- ``settings``: the data settings stored with the model, the model options and
  the training recipe of `rnn forecast train`.
- ``series``: reading a CSV series, missing values, categorical and calendar
  features, the scaler, the chronological split and the forecasting windows.
- ``baselines``: persistence, seasonal naive and a linear autoregressive model,
  on the same windows as the model.
- ``metrics``: RMSE, MAE and MASE per horizon step and overall, masked entries
  (missing targets) ignored.
- ``plots``: forecast and error-by-horizon pictures (matplotlib, optional).

Pure NumPy; nothing here knows about the neural model.
"""
