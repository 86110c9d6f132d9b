"""What staff do about a product problem: switch supplier, substitute, tell the customers."""
