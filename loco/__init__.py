"""loco: one assistant from a library of specialist adapters of one small model."""

__version__ = "0.1.0"
