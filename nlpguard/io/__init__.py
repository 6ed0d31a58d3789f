"""Input and output layer: reading records and documents, segmenting them, writing outputs, summaries and resumable files."""
