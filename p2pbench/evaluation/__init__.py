"""Evaluation: sources of images, evaluators, the loop that feeds them, and generate."""
