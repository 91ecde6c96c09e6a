"""Training data on disk: TFRecord shards of line crops and the real scan sets with ground truth.

``shards`` writes and reads the versioned shards (and the tf.data input pipeline); ``realdata``
reads SROIE receipts and FUNSD forms into lines and converts them to Label Studio exports. It may
import :mod:`linerec.infra`, :mod:`linerec.vision`, :mod:`linerec.model` and :mod:`linerec.labelstudio`
(the regions of the exports it writes).
"""
