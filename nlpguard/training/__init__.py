"""Training layer: data, corpora, augmentation, training, evaluation, model cards, ONNX export and pretrained backbones.

Never imported by scanning: ``from nlpguard import Guard`` and ``nlpguard scan`` load none of it.
"""
