"""Pure NumPy math: numpy in, numpy out, no I/O.

  workspace.py   reused work buffers and the elementwise thread pool
  layers.py      the input seam: embedding row gather (and its scatter-add gradient)
  cells.py       the cell seam: recurrences over a packed batch (Elman tanh|relu)
  output.py      the output-layer seam: full softmax (training, scoring, sampling)
  classsoftmax.py  the class-factored softmax and frequency binning of words into classes
  network.py     input -> cell -> output with namespaced parameters, rebuilt from its arguments
"""
