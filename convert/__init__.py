"""The conversion app: ``python -m convert --model PATH --output FILE.tflite``."""
