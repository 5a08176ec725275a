"""The IDE training methods a config can name (`reid.method`) and how a batch's two parts' losses combine.

A leaf module: config checks run before TensorFlow and the models are imported (a mistyped value should fail in a
second, not after ~10 s of imports), and they read the allowed values from here.
"""

# baseline: real only; unitystyle: + each image's UnityStyle version; real_twin: + the same images augmented
# again (control); camstyle: + CamStyle's generated images, label-smoothed; colour_norm: every camera
# standardised, real only.
METHODS = ("baseline", "unitystyle", "real_twin", "camstyle", "colour_norm")
# Methods whose inputs only the comparison (`python -m unitystyle_jax.compare`) makes.
COMPARE_ONLY_METHODS = ("camstyle", "colour_norm")
# per_part: mean over the real part + mean over the second part (the paper's (1/N) * sum over 2N); all: one mean.
LOSS_NORMALIZATIONS = ("per_part", "all")
