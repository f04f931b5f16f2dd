"""rnncli: train word-level recurrent language models on NumPy from the command line."""
__version__ = "0.1.0"
