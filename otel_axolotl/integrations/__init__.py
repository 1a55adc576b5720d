"""Adapters for training frameworks other than transformers (which lives in ``callbacks``).

Each module imports its framework at the top and is imported only by code that uses it, so
``import otel_axolotl`` never pulls a framework in.
"""
