"""What one GAN maps between, and where each trained GAN lives in a workdir."""

import dataclasses
import os


@dataclasses.dataclass(frozen=True)
class Domains:
    """What one GAN maps between: X = the training images of `x_camera`, Y = those of `y_camera`, or of every
    camera when it is None. One trainer serves UnityStyle (camera c vs all) and CamStyle (camera a vs b)."""

    x_camera: int
    y_camera: int | None = None

    @property
    def name(self) -> str:
        """camC (UnityStyle's, C the 0-based camera id: Market's c5 -> cam4), camA-camB (a CamStyle pair)."""
        return f"cam{self.x_camera}" + ("" if self.y_camera is None else f"-cam{self.y_camera}")

    @property
    def seed_offset(self) -> int:
        """Keeps every model's initialisation and data order apart: c for camera c vs all, 1000(a + 1) + b
        for the pair (a, b)."""
        return self.x_camera if self.y_camera is None else 1000 * (self.x_camera + 1) + self.y_camera

    def records(self, train) -> tuple[list, list]:
        """(X records, Y records) from the training split."""
        x = [r for r in train if r.camid == self.x_camera]
        y = list(train) if self.y_camera is None else [r for r in train if r.camid == self.y_camera]
        return x, y


def camstyle_pairs(cameras) -> list[Domains]:
    """CamStyle's C(C-1)/2 models: one per camera pair a < b (G: a -> b, F: b -> a)."""
    return [Domains(a, b) for i, a in enumerate(cameras) for b in cameras[i + 1 :]]


def camera_workdir(workdir: str, domains: Domains) -> str:
    """WORKDIR/gan/<domains.name>: gan/camC for UnityStyle's camera c (gaps are not renumbered)."""
    return os.path.join(workdir, "gan", domains.name)


def trained_cameras(workdir: str) -> list[int]:
    """The cameras with a UnityGAN checkpoint folder in WORKDIR/gan (camC; CamStyle's pairs are not)."""
    folder = os.path.join(workdir, "gan")
    names = os.listdir(folder) if os.path.isdir(folder) else []
    return sorted(
        int(n[3:])
        for n in names
        if n.startswith("cam") and n[3:].isdigit() and os.path.isdir(os.path.join(folder, n, "checkpoints"))
    )
