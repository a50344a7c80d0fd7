"""The Vertex AI provider: models, endpoints, monitors and schedules through aiplatform_v1 (REST)."""
