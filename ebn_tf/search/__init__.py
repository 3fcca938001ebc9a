"""Network growth search: grow depth, width (with G = a^2 groups) and experts within a
BOPs/OPs budget, train each candidate with a short proxy recipe, rank and plot."""

from ebn_tf.search.run import search
from ebn_tf.search.space import Candidate, candidates, within_budget

__all__ = ["Candidate", "candidates", "search", "within_budget"]
