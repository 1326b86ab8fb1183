"""The reproducible training and evaluation pipeline (numpy only, no torch)."""

from enclave.safeguards.training.pipeline import TrainParams
from enclave.safeguards.training.run import package_data_dir, run_eval, train

__all__ = ["TrainParams", "package_data_dir", "run_eval", "train"]
