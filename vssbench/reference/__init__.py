"""The docs site's reference pages, generated from the code that owns each fact."""
