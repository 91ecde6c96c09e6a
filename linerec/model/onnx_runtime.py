"""The CRNN as an ONNX graph, run by ONNX Runtime: the inference path of recognition.

The Keras model stays the source of truth (training, checkpoints, ``model.weights.h5``). For
inference its weights are laid into an equivalent ONNX graph built here, in memory, when a model
directory is loaded:

* each ``Conv2D -> BatchNormalization`` pair becomes one ``Conv`` with the normalization folded into
  its kernel and bias, followed by ``Relu`` and ``MaxPool``;
* the height is collapsed into channels in the Keras order (row-major over rows, then filters);
* each ``Bidirectional(LSTM)`` becomes one bidirectional ``LSTM`` node whose ``sequence_lens`` are
  the lines' valid frames, which is what the Keras mask does: the backward direction starts at a
  line's last valid frame, not in the batch's padding (a model built without ``mask_padding`` gets
  the full length, as Keras runs it);
* dropout is the identity at inference and is left out.

On CPU this runs the same model faster than TensorFlow's graph: ONNX Runtime's LSTM projects the
inputs of every step in one matrix product, and convolution, bias and ReLU are fused. Outputs agree
with the Keras model to ~1e-5 (``tests/unit/model/test_onnx_runtime.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from linerec.infra.config import get_settings

#: ONNX operator set of the graph (LSTM with ``sequence_lens``, Conv, MaxPool, Transpose, Reshape).
OPSET = 17


def _reorder_gates(m: np.ndarray) -> np.ndarray:
    """Keras LSTM gate blocks (i, f, c, o) along the last axis -> ONNX order (i, o, f, c)."""
    i, f, c, o = np.split(m, 4, axis=-1)
    return np.concatenate([i, o, f, c], axis=-1)


def _fold_batchnorm(conv, bn) -> tuple[np.ndarray, np.ndarray]:
    """Kernel (out, in, kh, kw) and bias of ``conv`` followed by ``bn`` in inference mode."""
    kernel = conv.kernel.numpy()  # (kh, kw, in, out)
    bias = conv.bias.numpy() if conv.use_bias else np.zeros(kernel.shape[-1], np.float32)
    gamma = bn.gamma.numpy() if bn.scale else np.ones_like(bias)
    beta = bn.beta.numpy() if bn.center else np.zeros_like(bias)
    scale = gamma / np.sqrt(bn.moving_variance.numpy() + bn.epsilon)
    folded_kernel = np.transpose(kernel * scale, (3, 2, 0, 1))
    folded_bias = (bias - bn.moving_mean.numpy()) * scale + beta
    return folded_kernel.astype(np.float32), folded_bias.astype(np.float32)


def crnn_to_onnx(model, height: int):
    """Build the ONNX graph of a CRNN from :func:`linerec.model.crnn.build_crnn`.

    Parameters
    ----------
    model : keras.Model
        The built model with its weights.
    height : int
        Input height (``LineConfig.height``).

    Returns
    -------
    onnx.ModelProto
        Inputs ``image`` float32 (B, height, W, 1) and ``width`` int32 (B,); output ``logits``
        float32 (B, W / TIME_DOWNSAMPLE, classes), as the Keras model.

    Raises
    ------
    ValueError
        If the model has a layer this translation does not know.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from linerec.model.crnn import POOLS, TIME_DOWNSAMPLE

    known = (
        "image",
        "width",
        "conv",
        "bn",
        "relu",
        "pool",
        "to_time",
        "collapse_height",
        "frame_mask",
        "drop",
        "bilstm",
        "logits",
    )
    unknown = [layer.name for layer in model.layers if not layer.name.startswith(known)]
    if unknown:
        raise ValueError(f"cannot translate layers {unknown} of model {model.name!r} to ONNX")
    nodes, weights = [], []

    def const(name: str, value) -> str:
        weights.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(op: str, inputs: list[str], output: str, **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    x = node("Transpose", ["image"], "nchw", perm=[0, 3, 1, 2])  # (B, 1, H, W)
    for i, pool in enumerate(POOLS):
        conv, bn = model.get_layer(f"conv{i}"), model.get_layer(f"bn{i}")
        if tuple(conv.strides) != (1, 1) or conv.padding != "same" or tuple(conv.dilation_rate) != (1, 1):
            raise ValueError(f"conv{i}: only stride 1, dilation 1, 'same' padding is translated")
        kernel, bias = _fold_batchnorm(conv, bn)
        kh, kw = kernel.shape[2:]
        x = node(
            "Conv",
            [x, const(f"conv{i}.w", kernel), const(f"conv{i}.b", bias)],
            f"conv{i}",
            kernel_shape=[kh, kw],
            pads=[(kh - 1) // 2, (kw - 1) // 2, kh // 2, kw // 2],
        )
        x = node("Relu", [x], f"relu{i}")
        x = node("MaxPool", [x], f"pool{i}", kernel_shape=list(pool), strides=list(pool))
    # (B, F, rows, T) -> (T, B, rows, F) -> (T, B, rows * F): time-major for the LSTMs
    x = node("Transpose", [x], "time_major", perm=[3, 0, 2, 1])
    flat = const("shape.tb_", np.array([0, 0, -1], np.int64))
    x = node("Reshape", [x, flat], "frames")
    masked = any(layer.name == "frame_mask" for layer in model.layers)
    if masked:  # valid frames per line: ceil(width / TIME_DOWNSAMPLE)
        padded = node(
            "Add", ["width", const("downsample_minus_1", np.array(TIME_DOWNSAMPLE - 1, np.int32))], "width_up"
        )
        lengths = node("Div", [padded, const("downsample", np.array(TIME_DOWNSAMPLE, np.int32))], "lengths")
    else:  # every frame, padding included, like the unmasked Keras LSTMs
        steps = node("Shape", [x], "steps", start=0, end=1)
        batch = node("Shape", ["width"], "batch")
        lengths = node("Cast", [node("Expand", [steps, batch], "lengths64")], "lengths", to=TensorProto.INT32)
    i = 0
    while any(layer.name == f"bilstm{i}" for layer in model.layers):
        bi = model.get_layer(f"bilstm{i}")
        w, r, b = [], [], []
        for cell in (bi.forward_layer, bi.backward_layer):
            kernel, recurrent, bias = (
                v.numpy() for v in (cell.cell.kernel, cell.cell.recurrent_kernel, cell.cell.bias)
            )
            if cell.cell.activation.__name__ != "tanh" or cell.cell.recurrent_activation.__name__ != "sigmoid":
                raise ValueError(f"bilstm{i}: only tanh/sigmoid LSTMs are translated")
            w.append(_reorder_gates(kernel).T)  # (4H, I)
            r.append(_reorder_gates(recurrent).T)  # (4H, H)
            b.append(np.concatenate([_reorder_gates(bias), np.zeros_like(bias)]))  # (8H,)
        units = r[0].shape[1]
        y = node(
            "LSTM",
            [
                x,
                const(f"bilstm{i}.W", np.stack(w).astype(np.float32)),
                const(f"bilstm{i}.R", np.stack(r).astype(np.float32)),
                const(f"bilstm{i}.B", np.stack(b).astype(np.float32)),
                lengths,
            ],
            f"bilstm{i}",
            direction="bidirectional",
            hidden_size=units,
        )  # (T, 2, B, U)
        y = node("Transpose", [y], f"bilstm{i}.tb", perm=[0, 2, 1, 3])  # (T, B, 2, U): forward, backward
        x = node("Reshape", [y, flat], f"bilstm{i}.out")  # (T, B, 2U)
        i += 1
    dense = model.get_layer("logits")
    x = node("MatMul", [x, const("logits.w", dense.kernel.numpy())], "logits.mm")
    x = node("Add", [x, const("logits.b", dense.bias.numpy())], "logits.tb")
    node("Transpose", [x], "logits", perm=[1, 0, 2])
    classes = int(dense.kernel.shape[-1])
    graph = helper.make_graph(
        nodes,
        model.name,
        [
            helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", height, "width_px", 1]),
            helper.make_tensor_value_info("width", TensorProto.INT32, ["batch"]),
        ],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "frames", classes])],
        initializer=weights,
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="linerec")
    proto.ir_version = 8
    onnx.checker.check_model(proto)
    return proto


class OnnxForward:
    """Callable ``(images, widths) -> logits`` (numpy) running a CRNN in ONNX Runtime.

    Parameters
    ----------
    model : keras.Model
        The CRNN whose current weights are translated (later weight changes are not seen).
    height : int
        Input height.
    threads : int, optional
        Intra-op threads; default ``LINEREC_INFERENCE_THREADS`` or, when unset, ONNX Runtime's
        choice (the machine's physical cores).
    """

    def __init__(self, model, height: int, threads: int | None = None) -> None:
        import onnxruntime as ort

        if threads is None:
            threads = get_settings().inference_threads
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(int(threads), 0)
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        # Idle threads sleep instead of spinning: recognition overlaps with threads that decode and
        # segment the next pages, and spinning would take their cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(
            crnn_to_onnx(model, height).SerializeToString(), options, providers=["CPUExecutionProvider"]
        )

    def __call__(self, images: np.ndarray, widths: np.ndarray) -> np.ndarray:
        feeds: dict[str, Any] = {
            "image": np.ascontiguousarray(images, np.float32),
            "width": np.ascontiguousarray(widths, np.int32),
        }
        return self.session.run(["logits"], feeds)[0]
