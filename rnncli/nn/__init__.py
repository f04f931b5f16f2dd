"""Pure NumPy math: numpy in, numpy out, no I/O.

  workspace.py     reused work buffers and the elementwise thread pool
  layers.py        input layers: Embedding (word ids: row gather, scatter-add gradient), Dense; dropout
  cells.py         the cell seam: the Elman cell (tanh|relu), and Stack, layers of cells that is a cell
  gated.py         the GRU and LSTM cells
  softmax.py       softmax kernels shared by the softmaxes and attention
  output.py        the output-layer seam: full softmax and linear read-out (mse|mae)
  classsoftmax.py  the class-factored softmax and frequency binning of words into classes
  attention.py     Luong attention over an encoder's states, batched over windows
  network.py       the assembly, input -> stack -> output; the language model's Network
  seq2seq.py       the forecaster's encoder-decoder, a configuration of the same parts
"""
