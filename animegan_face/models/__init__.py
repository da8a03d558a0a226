"""The networks: the generators and the discriminator, their layers, and the frozen feature
extractors the losses look through (with the pretrained weights that can be had offline)."""
