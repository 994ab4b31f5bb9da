"""Tests of the eval suite (evals/)."""
