"""The model registry: every trained model is a version; one is active; replicas follow it."""
