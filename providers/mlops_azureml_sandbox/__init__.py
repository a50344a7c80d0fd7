"""The sandbox's Azure Machine Learning emulator: an ARM control plane for
Microsoft.MachineLearningServices over TLS (see `server.py`)."""
