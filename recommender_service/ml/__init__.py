"""The recommender's machine learning: models, data pipeline, training loop, metrics.

Pure PyTorch + numpy: no database, no HTTP. The service feeds it `InteractionData` built from the
read model (`feedback.implicit_feedback`) and stores the `TrainedModel` that `pipeline.fit` returns.
"""
