"""Contracts, contract lines, charges and orders: what an org has bought and buys."""
