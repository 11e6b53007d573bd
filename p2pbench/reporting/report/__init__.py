"""The HTML report of a results folder: folder scanning, file embedding, view models, the page."""
