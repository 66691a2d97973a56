"""Products, editions, add-on rules and price books."""
