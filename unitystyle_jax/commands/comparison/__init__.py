"""`make compare`: the paper's comparison on one data split, with controls, ablations, paired seeds and intervals.

Rows (`rows.ROWS`, in groups: `paper`, `methods`, `all`): the IDE baseline; controls (the same real images again
with another augmentation, which carries the loss formula and the 2N images per step of UnityStyle; a per-camera
colour normalisation with no GAN, both replacing every image and as a twin in UnityStyle's own recipe); IDE +
CamStyle (CamStyle's CycleGAN per camera pair, C(C-1)/2 of them, for a UnityGAN's steps; label smoothing on
generated images), and the same pairs as UnityGANs; the IDE tested on UnityStyle images only; IDE + UnityStyle
with and without test-time transfer, with label smoothing and with per-model Style Attention; the methods people
use without a GAN (IBN-a, MixStyle, colour jitter, camera-based BN, transductive and deployable) and UnityStyle
beside two of them; and the PyTorch IDE trained on the same batches.

Every row is trained with each of `compare.seeds` seeds (the IDE's initialisation, data order and augmentation);
a style set's generators are trained for several GAN seeds and IDE seed i uses GAN seed i mod their number
(`gan_seed_count`: by default one per IDE seed for the UnityGANs, fewer for CamStyle's costly pairs), so a row's
seeds carry the GANs' variance too. Seed i of every row shares all of that, and every row is scored on the
same queries, so rows are compared pairwise: the mean paired difference with a bootstrap interval that draws
GAN seeds, IDE seeds within them and test identities (`evaluation.paired`). Everything resumes: finished GANs,
transfers, IDE models and evaluations are kept and skipped.

Writes RESULTS/compare.md and RESULTS/compare.json: per row the mean, sample std over seeds and 95% interval of
Rank-1, mAP and mINP, the generator count and GAN / transfer / IDE time; per contrast the paired difference and
its interval; and a verdict on each of the paper's claims that the intervals support.
"""
