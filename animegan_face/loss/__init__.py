"""The maths of training: each loss term as a pure function (`losses`), the terms composed into the
warm-up, generator and discriminator objectives for both backends (`objectives`), and each weighted
term's gradient norm (`diagnostics`)."""
