"""Causal structure for generation: graphs with background knowledge, their discovery from
data and simulated structural causal models whose interventional truth is known."""

from ouroboros.causal.graph import CausalGraph, Knowledge
from ouroboros.causal.simulate import SCM, scenarios

__all__ = ["SCM", "CausalGraph", "Knowledge", "scenarios"]
