"""The transfer stage: datasets of styled images written beside the real ones. UnityStyle (every image by its
camera's generator G), CamStyle's generated training images (a pair's G and F), and the per-camera colour
normalisation (no GAN: statistics); each measured by `style_stats`."""
