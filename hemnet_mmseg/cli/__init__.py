"""Command-line entry points: ``hemnet-train``, ``hemnet-test``,
``hemnet-infer`` (also ``python -m hemnet_mmseg.cli.train`` etc., and the
thin wrappers in ``tools/``)."""
