"""The re-ID methods (config.reid.method): what a batch holds after its N real images, how the labels of that
second part are smoothed, whether the method trains and tests on the transfer stage's UnityStyle images, and
whether only the comparison makes its images. The one table every dispatch on a method reads: a new method is
an entry here plus the code that makes its images.
"""

import dataclasses

# What follows the N real images of a batch: nothing; each real image's styled version (aligned); the same real
# image again, augmented anew (the control for "more images"); or generated images drawn on their own
# (generated_batch_size of them).
SECOND_PARTS = ("none", "styled", "real_again", "generated")


@dataclasses.dataclass(frozen=True)
class Method:
    name: str
    label: str  # in reports
    second_part: str  # one of SECOND_PARTS
    smoothing_field: (
        str | None
    )  # the config.reid field holding the second part's label smoothing (None: none)
    transferred: (
        bool  # trains on the transfer stage's UnityStyle images and tests on them (test-time transfer)
    )
    compare_only: bool  # its images come from the comparison (CamStyle's pairwise GANs, colour statistics)
    replaces_real: bool = False  # its styled images stand in for the real ones (the real part is theirs)

    def second_part_smoothing(self, reid) -> float:
        """The label smoothing of the second part under config.reid `reid`."""
        return float(reid[self.smoothing_field]) if self.smoothing_field else 0.0


METHODS = {
    m.name: m
    for m in (
        Method("baseline", "IDE (real images only)", "none", None, False, False),
        Method("unitystyle", "IDE + UnityStyle", "styled", "unitystyle_label_smoothing", True, False),
        Method("real_twin", "IDE + real twin", "real_again", None, False, False),
        # CamStyle's generated images, label-smoothed as its paper does.
        Method("camstyle", "IDE + CamStyle", "generated", "generated_label_smoothing", False, True),
        # Every camera standardised to the training set's colour statistics; real images only.
        Method(
            "colour_norm", "IDE on colour-normalised images", "none", None, False, True, replaces_real=True
        ),
    )
}


def of(reid) -> Method:
    """config.reid's method (a validated config names one of METHODS)."""
    return METHODS[reid.method]
