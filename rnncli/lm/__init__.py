"""The language-model task: text in, token ids out, and everything that knows about words.

  settings.py    how text becomes ids (stored with the model), the model options, --softmax
  sources.py     reading files, standard input, .gz, CSV columns
  splitting.py   sentence splitting (Punkt)
  tokenizer.py   words, on all cores
  vocab.py       the vocabulary and encoding to ids
  cache.py       the tokenization cache
  corpusfile.py  tokenized-corpus files (`rnn tokenize`)
  corpus.py      files to encoded ids in a vocabulary, once for every command
  prepare.py     `rnn train`'s settings, data, network and parameters, before the first step
  shard.py       each MPI process's share of the input
  task.py        the task the training loop runs, and its checkpoint section
  evaluate.py    scoring
  generate.py    sampling
"""
