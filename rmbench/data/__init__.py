"""Data: the example schema, one adapter per upstream format, the loaders, and the record
policy (rmbench.data.skips: bad records are skipped and counted, never sink a data set)."""

from rmbench.data import ppe_formats, suite_formats  # noqa: F401  register the JudgeBench, RMB, M-RewardBench, PPE formats
from rmbench.data.adapters import FORMATS, detect_format
from rmbench.data.loading import load_preferences, load_sft, load_unpaired
from rmbench.data.schema import PreferenceExample, SFTExample, UnpairedExample
from rmbench.data.skips import SkipLog, SkipRecord

__all__ = [
    "FORMATS",
    "PreferenceExample",
    "SFTExample",
    "SkipLog",
    "SkipRecord",
    "UnpairedExample",
    "detect_format",
    "load_preferences",
    "load_sft",
    "load_unpaired",
]
