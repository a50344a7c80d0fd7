"""The sandbox's AWS emulator: moto's server, extended for SageMaker (`server.SageMakerEmulator`).

Found through the `mlops_gitops.emulators` entry point `sagemaker`. Kept apart from the provider
package (`mlops_sagemaker`), which never imports it: a provider talks to its emulator over HTTP
like to the cloud. Importing this package imports neither moto nor boto3."""
