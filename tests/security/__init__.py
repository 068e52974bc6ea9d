"""Across the library: the attack classes, adversarial inputs, and secrets in logs and chains."""
