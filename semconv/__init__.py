"""Build-time tools around semconv/registry.yaml (the generator, the Axolotl schema reader).

Not part of the installed package: `python semconv/generate.py` is the entry point.
"""
