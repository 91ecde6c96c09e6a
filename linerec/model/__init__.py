"""The line recognizer: characters, CTC, the CRNN, preprocessing and inference.

``charset`` maps characters to classes, ``ctc`` holds the loss and decoders, ``crnn`` builds the
Keras CNN + BiLSTM, ``preprocessing`` normalizes a line crop for the network (training and
inference share it), ``recognizer`` loads a model folder and recognizes crops through
``onnx_runtime``, ``words`` places words on the page from the CTC alignment. It may import
:mod:`linerec.infra` and :mod:`linerec.vision`.
"""
