"""All of mapfree's drawing: figures in one style (`style`), written without pyplot or a backend, and the map
images the training loggers show (`maps`). Other packages pick the data and call these functions; each
module imports Matplotlib itself, so importing the package imports none."""
