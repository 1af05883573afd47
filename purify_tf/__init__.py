"""purify-tf: purify real eye images towards the synthetic domain (Zhao et al.)."""

__version__ = "0.1.0"
