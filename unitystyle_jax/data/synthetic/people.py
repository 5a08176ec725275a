"""People: identity is clothing, pattern, accessories and build; pose, view and framing change per image."""

from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image, ImageDraw

from unitystyle_jax.data.synthetic.spec import hsv_colour, random_colour

_SKIN = ((255, 219, 172), (241, 194, 125), (224, 172, 105), (198, 134, 66), (141, 85, 36), (92, 59, 36))
_HAIR = ((20, 17, 15), (60, 40, 25), (110, 75, 40), (200, 160, 90), (150, 150, 150), (140, 50, 20))
_PATTERNS = ("solid", "hstripes", "vstripes", "checks", "logo", "two_tone")
_BOTTOMS = ("trousers", "trousers", "shorts", "skirt")
_BAGS = ("none", "backpack", "shoulder", "handbag")
_HAIRSTYLES = ("short", "long", "bald", "hat")
_LOGOS = ("circle", "square", "triangle", "diamond")


@dataclasses.dataclass(frozen=True)
class Person:
    """What stays the same across cameras: the identity's clothes, accessories and build."""

    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    hairstyle: str
    hat: tuple[int, int, int]
    top: tuple[int, int, int]
    top_second: tuple[int, int, int]
    pattern: str
    stripe: float  # pattern period as a fraction of the person's height
    logo: str
    long_sleeves: bool
    bottom_kind: str
    bottom: tuple[int, int, int]
    shoes: tuple[int, int, int]
    bag: str
    bag_colour: tuple[int, int, int]
    height: float  # fraction of the frame
    shoulders: float  # widths as fractions of the person's height
    hips: float
    head: float
    legs: float  # leg length as a fraction of the person's height


def random_person(rng: np.random.Generator) -> Person:
    """Draw an identity; contrasting second colours keep patterns visible under any camera style."""
    top_hue = rng.uniform()
    return Person(
        skin=_SKIN[rng.integers(len(_SKIN))],
        hair=_HAIR[rng.integers(len(_HAIR))],
        hairstyle=_HAIRSTYLES[rng.integers(len(_HAIRSTYLES))],
        hat=random_colour(rng),
        top=hsv_colour(top_hue, rng.uniform(0.3, 1.0), rng.uniform(0.3, 0.95)),
        top_second=hsv_colour(
            top_hue + rng.uniform(0.3, 0.7), rng.uniform(0.0, 1.0), rng.choice([0.15, 0.95])
        ),
        pattern=_PATTERNS[rng.integers(len(_PATTERNS))],
        stripe=float(rng.uniform(0.035, 0.08)),
        logo=_LOGOS[rng.integers(len(_LOGOS))],
        long_sleeves=bool(rng.uniform() < 0.6),
        bottom_kind=_BOTTOMS[rng.integers(len(_BOTTOMS))],
        bottom=random_colour(rng, (0.0, 0.8), (0.1, 0.9)),
        shoes=random_colour(rng, (0.0, 0.6), (0.05, 0.9)),
        bag=_BAGS[rng.integers(len(_BAGS))],
        bag_colour=random_colour(rng),
        height=float(rng.uniform(0.8, 0.94)),
        shoulders=float(rng.uniform(0.2, 0.29)),
        hips=float(rng.uniform(0.15, 0.22)),
        head=float(rng.uniform(0.11, 0.14)),
        legs=float(rng.uniform(0.44, 0.52)),
    )


@dataclasses.dataclass(frozen=True)
class Pose:
    """What changes per image: view, walking phase, framing."""

    view: str  # front, back or side
    mirror: bool
    phase: float
    stride: float
    scale: float
    dx: float  # horizontal offset of the person's centre, fraction of the frame width
    dy: float


def random_pose(rng: np.random.Generator) -> Pose:
    return Pose(
        view=str(rng.choice(["front", "back", "side"], p=[0.4, 0.4, 0.2])),
        mirror=bool(rng.uniform() < 0.5),
        phase=float(rng.uniform(0, 2 * np.pi)),
        stride=float(rng.uniform(0.04, 0.12)),
        scale=float(rng.uniform(0.9, 1.05)),
        dx=float(rng.uniform(-0.08, 0.08)),
        dy=float(rng.uniform(-0.03, 0.03)),
    )


class _Body:
    """Maps the person's own coordinates (u across, v from head top 0 to feet 1, both in person heights) to
    canvas pixels, and draws body parts in them."""

    def __init__(self, canvas: Image.Image, person: Person, pose: Pose):
        w, h = canvas.size
        self.canvas, self.draw = canvas, ImageDraw.Draw(canvas)
        self.size = person.height * pose.scale * h
        self.cx = w * (0.5 + pose.dx)
        self.top = h * (1.0 - person.height * pose.scale) / 2 + pose.dy * h
        self.flip = -1.0 if pose.mirror else 1.0

    def xy(self, u: float, v: float) -> tuple[float, float]:
        return self.cx + self.flip * u * self.size, self.top + v * self.size

    def box(self, u0: float, v0: float, u1: float, v1: float) -> tuple[float, float, float, float]:
        (x0, y0), (x1, y1) = self.xy(u0, v0), self.xy(u1, v1)
        return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)

    def polygon(self, points, fill) -> None:
        self.draw.polygon([self.xy(u, v) for u, v in points], fill=fill)

    def ellipse(self, u0, v0, u1, v1, fill) -> None:
        self.draw.ellipse(self.box(u0, v0, u1, v1), fill=fill)

    def rectangle(self, u0, v0, u1, v1, fill) -> None:
        self.draw.rectangle(self.box(u0, v0, u1, v1), fill=fill)

    def limb(self, start, end, width_start, width_end, fill) -> None:
        """A tapered segment with a rounded joint at its start."""
        (u0, v0), (u1, v1) = start, end
        length = max(np.hypot(u1 - u0, v1 - v0), 1e-6)
        nu, nv = -(v1 - v0) / length, (u1 - u0) / length
        self.polygon(
            [
                (u0 + nu * width_start / 2, v0 + nv * width_start / 2),
                (u1 + nu * width_end / 2, v1 + nv * width_end / 2),
                (u1 - nu * width_end / 2, v1 - nv * width_end / 2),
                (u0 - nu * width_start / 2, v0 - nv * width_start / 2),
            ],
            fill,
        )
        r = width_start / 2
        self.ellipse(u0 - r, v0 - r, u0 + r, v0 + r, fill)


def _pattern_layer(body: _Body, person: Person, region: list[tuple[float, float]], show_logo: bool) -> None:
    """Fill the torso with the identity's clothing pattern (drawn through a mask so stripes stay inside)."""
    mask = Image.new("L", body.canvas.size, 0)
    ImageDraw.Draw(mask).polygon([body.xy(u, v) for u, v in region], fill=255)
    layer = Image.new("RGB", body.canvas.size, person.top)
    draw = ImageDraw.Draw(layer)
    x0, y0, x1, y1 = mask.getbbox() or (0, 0, 1, 1)
    period = max(person.stripe * body.size, 2.0)
    if person.pattern in ("hstripes", "checks"):
        for y in np.arange(y0, y1, period):
            draw.rectangle((x0, y, x1, y + period / 2), fill=person.top_second)
    if person.pattern in ("vstripes", "checks"):
        for x in np.arange(x0, x1, period):
            draw.rectangle((x, y0, x + period / 2, y1), fill=person.top_second)
    if person.pattern == "two_tone":
        draw.rectangle((x0, (y0 + y1) / 2, x1, y1), fill=person.top_second)
    if person.pattern == "logo" and show_logo:
        cx, cy, r = (x0 + x1) / 2, y0 + 0.35 * (y1 - y0), 0.22 * (x1 - x0)
        if person.logo == "circle":
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=person.top_second)
        else:
            corners = {
                "square": [(-1, -1), (1, -1), (1, 1), (-1, 1)],
                "triangle": [(0, -1), (1, 1), (-1, 1)],
                "diamond": [(0, -1), (1, 0), (0, 1), (-1, 0)],
            }[person.logo]
            draw.polygon([(cx + a * r, cy + b * r) for a, b in corners], fill=person.top_second)
    body.canvas.paste(layer, mask=mask)


def draw_person(canvas: Image.Image, person: Person, pose: Pose) -> None:
    """Draw one pedestrian — legs, patterned torso, arms, bag, head and hair — in the order a viewer sees."""
    body = _Body(canvas, person, pose)
    side = pose.view == "side"
    head, shoulder_v = person.head, person.head + 0.025
    hip_v = 1.0 - person.legs
    width = person.shoulders * (0.55 if side else 1.0)
    hips = person.hips * (0.6 if side else 1.0)
    swing = np.sin(pose.phase)

    # Legs: scissor in side view, alternate lifts in front/back view.
    knee_v, leg_w = hip_v + person.legs * 0.48, hips * 0.45
    for sign in (-1.0, 1.0):
        hip = (sign * hips / 4 * (0.3 if side else 1.0), hip_v)
        foot_u = hip[0] + (sign * swing * pose.stride * 1.5 if side else sign * 0.01)
        foot_v = 1.0 - (0.0 if side else max(0.0, sign * swing) * pose.stride * 0.4)
        knee = ((hip[0] + foot_u) / 2 + (0.02 if side else 0.0), knee_v - (1.0 - foot_v) / 2)
        thigh = person.skin if person.bottom_kind == "skirt" else person.bottom
        shin = person.bottom if person.bottom_kind == "trousers" else person.skin
        body.limb(hip, knee, leg_w, leg_w * 0.85, thigh)
        body.limb(knee, (foot_u, foot_v - 0.03), leg_w * 0.85, leg_w * 0.7, shin)
        body.ellipse(
            foot_u - leg_w * 0.5, foot_v - 0.04, foot_u + leg_w * (0.9 if side else 0.5), foot_v, person.shoes
        )
    if person.bottom_kind == "skirt":
        body.polygon(
            [
                (-hips / 2, hip_v - 0.02),
                (hips / 2, hip_v - 0.02),
                (hips * 0.9, knee_v),
                (-hips * 0.9, knee_v),
            ],
            person.bottom,
        )
    else:
        body.rectangle(-hips / 2, hip_v - 0.02, hips / 2, hip_v + 0.05, person.bottom)

    long_hair = [
        (-head * 0.42, head * 0.5),
        (head * 0.42, head * 0.5),
        (head * 0.5, shoulder_v + 0.1),
        (-head * 0.5, shoulder_v + 0.1),
    ]
    if person.hairstyle == "long" and pose.view != "back":  # seen from the front it falls behind the torso
        body.polygon(long_hair, person.hair)

    torso = [
        (-width / 2, shoulder_v),
        (width / 2, shoulder_v),
        (hips / 2 * 1.05, hip_v + 0.01),
        (-hips / 2 * 1.05, hip_v + 0.01),
    ]
    _pattern_layer(body, person, torso, show_logo=pose.view == "front")

    # Arms swing against the legs; short sleeves show skin below the elbow.
    arm_w, elbow_v, hand_v = width * 0.28, shoulder_v + 0.16, shoulder_v + 0.33
    for sign in (1.0,) if side else (-1.0, 1.0):
        shoulder = (sign * (width / 2 - arm_w / 3) if not side else 0.0, shoulder_v + 0.02)
        reach = -sign * swing * pose.stride * (2.0 if side else 0.4)
        elbow = (shoulder[0] + sign * 0.015 + reach / 2, elbow_v)
        hand = (shoulder[0] + sign * 0.02 + reach, hand_v)
        body.limb(shoulder, elbow, arm_w, arm_w * 0.85, person.top)
        body.limb(elbow, hand, arm_w * 0.85, arm_w * 0.7, person.top if person.long_sleeves else person.skin)
        body.ellipse(
            hand[0] - arm_w * 0.4,
            hand[1] - arm_w * 0.3,
            hand[0] + arm_w * 0.4,
            hand[1] + arm_w * 0.5,
            person.skin,
        )
        if person.bag == "handbag" and sign > 0:
            body.rectangle(hand[0] - 0.045, hand[1] + 0.02, hand[0] + 0.045, hand[1] + 0.1, person.bag_colour)

    if person.bag == "backpack":
        if pose.view == "back":
            body.polygon(
                [
                    (-width * 0.4, shoulder_v + 0.03),
                    (width * 0.4, shoulder_v + 0.03),
                    (width * 0.42, hip_v - 0.04),
                    (-width * 0.42, hip_v - 0.04),
                ],
                person.bag_colour,
            )
        elif side:
            body.rectangle(-width / 2 - 0.075, shoulder_v + 0.03, -width / 2, hip_v - 0.05, person.bag_colour)
        else:
            for sign in (-1.0, 1.0):
                body.limb(
                    (sign * width * 0.3, shoulder_v),
                    (sign * width * 0.28, shoulder_v + 0.16),
                    0.025,
                    0.025,
                    person.bag_colour,
                )
    elif person.bag == "shoulder":
        body.limb((-width / 2, shoulder_v), (width / 2, hip_v - 0.03), 0.018, 0.018, person.bag_colour)
        body.rectangle(width / 2 - 0.02, hip_v - 0.08, width / 2 + 0.08, hip_v + 0.02, person.bag_colour)

    body.limb((0.0, head * 0.8), (0.0, shoulder_v + 0.01), head * 0.3, head * 0.3, person.skin)  # neck
    face_u = 0.015 if side else 0.0
    body.ellipse(face_u - head * 0.37, 0.0, face_u + head * 0.37, head, person.skin)
    if person.hairstyle == "hat":
        body.ellipse(-head * 0.4, -head * 0.05, head * 0.4, head * 0.45, person.hat)
        body.rectangle(-head * 0.55, head * 0.3, head * 0.55, head * 0.38, person.hat)  # brim
    elif person.hairstyle != "bald":
        cover = head * (0.95 if pose.view == "back" else 0.4)
        body.ellipse(-head * 0.4, -head * 0.03, head * 0.4, cover + head * 0.1, person.hair)
        if person.hairstyle == "long" and pose.view == "back":  # seen from the back it covers the shoulders
            body.polygon(long_hair, person.hair)
