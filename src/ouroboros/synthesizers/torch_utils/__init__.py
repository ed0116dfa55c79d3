"""Torch pieces the neural generators share.

``device`` (devices, seeds, threads), ``noise`` (dropout and Gumbel noise from an explicit
generator), ``layout`` (:class:`SpanLayout` of the encoded matrix), ``weights`` (moving
average of weights, arrays for the model file), ``conditions`` (conditions on one-hot
columns) and ``training`` (the shared loop: :class:`LoopSettings`, :class:`History`,
:func:`train`, :func:`batches`, :func:`split_validation`).
"""
