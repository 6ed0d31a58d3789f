"""nlpguard: flag abusive debt-collection messages and abusive consent clauses in Chinese text."""
from .guard import Guard
from .taxonomy import LABELS, TASKS, task_labels

__version__ = "0.1.0"
__all__ = ["Guard", "LABELS", "TASKS", "task_labels", "__version__"]
