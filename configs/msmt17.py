"""MSMT17 (V1 list files) at paper scale (15 cameras -> 15 UnityGANs, against CamStyle's 105). Set
--config.data.root to the folder holding train/, test/ and list_{train,val,query,gallery}.txt."""

from configs import default


def get_config():
    c = default.get_config()
    c.data.name = "msmt17"
    c.reid.num_steps = 25_000  # ~50 epochs of MSMT17's 32,621 train+val images at N = 64
    c.reid.decay_steps = (20_000,)
    return c
