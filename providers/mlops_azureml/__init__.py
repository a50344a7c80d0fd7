"""The Azure Machine Learning provider: models, endpoints, monitors and schedules through `azure-ai-ml`."""
