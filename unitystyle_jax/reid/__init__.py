"""IDE re-ID: training on N real images plus a method's second part, evaluation of a trained run, the backbone
restored as a feature model, and pretrained ImageNet weights converted from PyTorch."""
