"""Privacy rules: pure functions that decide what of a value may leave the process."""

from otel_axolotl.privacy.keys import is_name_key, is_path_key, is_secret_key
from otel_axolotl.privacy.stacktrace import sanitize_stack_trace
from otel_axolotl.privacy.tree import scrub_tree
from otel_axolotl.privacy.values import REDACTED, Level, RedactionCounter, scrub_text
from otel_axolotl.privacy.whitelist import Whitelist

__all__ = [
    "REDACTED",
    "Level",
    "RedactionCounter",
    "Whitelist",
    "is_name_key",
    "is_path_key",
    "is_secret_key",
    "sanitize_stack_trace",
    "scrub_text",
    "scrub_tree",
]
