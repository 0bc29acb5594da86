"""ctrbench: a real-time click-through-rate pipeline and the benchmark harness around it."""

__version__ = "0.1.0"
