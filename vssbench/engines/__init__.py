"""Search engines behind one seam: build parameters that key the index, query settings set per
measurement point, one query, a batch, a plan."""
