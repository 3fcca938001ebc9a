"""The training app: ``python -m train --recipe NAME --model_dir DIR``."""
