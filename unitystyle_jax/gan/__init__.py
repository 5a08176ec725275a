"""UnityGAN: one camera-vs-domain trainer (UnityStyle: camera c vs all; CamStyle: camera a vs b), the transfer of
every image into its camera's UnityStyle, the style statistics that tell whether the cameras became alike, and
the trained generators restored for inference."""
