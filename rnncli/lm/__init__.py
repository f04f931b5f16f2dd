"""The language-model task: text in, token ids out, and everything that knows about words.

  sources.py     reading files, standard input, .gz, CSV columns
  splitting.py   sentence splitting (Punkt)
  tokenizer.py   words, on all cores
  vocab.py       the vocabulary and encoding to ids
  cache.py       the tokenization cache
  corpusfile.py  tokenized-corpus files (`rnn tokenize`)
  corpus.py      files to encoded ids in a vocabulary, once for every command
  task.py        the task the training loop runs
  evaluate.py    scoring
  generate.py    sampling
"""
