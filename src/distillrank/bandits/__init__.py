"""Bandits: exploration policies with regret, and off-policy evaluation."""
