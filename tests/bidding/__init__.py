"""Tests of the bidding app and of the sealed bid format."""
