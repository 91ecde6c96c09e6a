import io

from PIL import Image

from linerec.eval.plots import training_curve_png


def test_training_curve_with_and_without_val_cer():
    plain = training_curve_png([3.0, 2.0, 1.0], "m on ds")
    with_val = training_curve_png([3.0, 2.0, 1.0], "m on ds", [(1, 0.02), (2, None), (3, 0.01)])
    assert plain != with_val  # the val CER axis is drawn
    assert with_val == training_curve_png([3.0, 2.0, 1.0], "m on ds", [(1, 0.02), (2, None), (3, 0.01)])
    assert Image.open(io.BytesIO(with_val)).size == (600, 350)
