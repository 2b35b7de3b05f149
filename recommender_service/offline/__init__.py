"""Work on files, beside the pure `ml` package: the public data sets' loaders, the `evaluate`
command that runs the models on them, and the plots of training curves and comparisons."""
