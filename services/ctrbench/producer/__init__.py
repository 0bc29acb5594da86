"""Load generator: MMPP/Poisson arrival schedules, event encoding, open-loop paced sending."""
