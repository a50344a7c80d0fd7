"""Amazon SageMaker provider for mlops-gitops: models and real-time endpoints.

The entry point is `mlops_sagemaker.provider:SageMakerProvider`. Keep this package's import free
of boto3 and the SageMaker SDK: `mlops validate` loads providers and must stay fast."""
