"""TARF companion: label-domain mismatch in machine unlearning (Zhu et al., ICLR 2026)."""

from .env import env_report
from .params import check_parameters
from .progress import progress
from .runner import context

__all__ = ["check_parameters", "context", "env_report", "progress"]
