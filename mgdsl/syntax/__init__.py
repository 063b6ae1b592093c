"""Syntax stage: parsing .mgd text into an AST and printing it back in canonical form."""
