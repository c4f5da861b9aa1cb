"""Compiler passes: each module holds one pure function from circuit to circuit."""
