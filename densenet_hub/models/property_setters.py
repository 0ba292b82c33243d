"""Property setters that work on every backend."""


class PropertySetters:
    """Mixed in before `keras.Model`: assigning to a property calls its setter.

    With the torch backend a Keras model is a `torch.nn.Module`, whose
    `__setattr__` files a layer value under `_modules` and skips a
    property's setter; calling the descriptor directly keeps properties such
    as `Task.preprocessor` and `Backbone.token_embedding` (and Keras'
    `dtype_policy`) working.
    """

    def __setattr__(self, name, value):
        if isinstance(getattr(type(self), name, None), property):
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)
