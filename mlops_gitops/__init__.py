"""mlops-gitops: declarative, Terraform-style deployments of ML models, endpoints, monitors and
retraining schedules on SageMaker, Vertex AI and Azure ML."""

__version__ = "0.1.0"
