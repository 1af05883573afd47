"""Export entry points: SavedModel, TFLite, serving client."""
