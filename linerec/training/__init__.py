"""Training the CRNN: the Horovod data-parallel entry point (``python -m linerec.training.train``).

It is launched by the training step under ``horovodrun`` and may import every part it trains
with: :mod:`linerec.infra`, :mod:`linerec.vision`, :mod:`linerec.model`, :mod:`linerec.datasets`
and :mod:`linerec.eval`. Nothing in the library imports it.
"""
