"""poolstudy: does pooling raise a CNN's accuracy when overfitting is not the reason?"""

__version__ = "0.1.0"
