"""An example mlops-gitops provider whose cloud is a directory (see README.md)."""
