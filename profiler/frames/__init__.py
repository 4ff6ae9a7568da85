"""Frame transforms on symbolized stacks (leaf first): async renaming and executor folding.

``apply_async_stacks(frames, thread_name, mode)`` turns a native stack of a Tokio worker into the
logical async stack: the thread's name as root, then the task's async functions, then the leaf.
"""

from .async_stacks import (
    apply_async_stacks,
    async_function_of,
    collapse_async_duplicates,
    rename_async_frames,
)
from .folding import TOKIO_RULES, FrameRules, fold_executor_frames

__all__ = [
    "TOKIO_RULES",
    "FrameRules",
    "apply_async_stacks",
    "async_function_of",
    "collapse_async_duplicates",
    "fold_executor_frames",
    "rename_async_frames",
]
