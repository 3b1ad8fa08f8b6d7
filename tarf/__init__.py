"""TARF companion: label-domain mismatch in machine unlearning (Zhu et al., ICLR 2026)."""

from .env import env_report
from .progress import progress
from .runner import context

__all__ = ["context", "env_report", "progress"]
