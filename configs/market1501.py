"""Market-1501 at paper scale (6 cameras -> 6 UnityGANs). Set --config.data.root to the folder holding
bounding_box_train/, bounding_box_test/ and query/."""

from configs import default


def get_config():
    c = default.get_config()
    c.data.name = "market1501"
    return c
