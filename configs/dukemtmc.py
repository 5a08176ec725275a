"""DukeMTMC-reID at paper scale (8 cameras -> 8 UnityGANs). Set --config.data.root to the folder holding
bounding_box_train/, bounding_box_test/ and query/."""

from configs import default


def get_config():
    c = default.get_config()
    c.data.name = "dukemtmc"
    c.reid.num_steps = 13_000  # ~50 epochs of Duke's 16,522 training images at N = 64
    c.reid.decay_steps = (10_400,)
    return c
