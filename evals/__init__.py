"""The eval suite: scores the service against reference answers and summaries (python -m evals)."""
