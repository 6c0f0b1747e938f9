"""Queries: the AST every way of asking compiles to, its SQL and text-index forms, and the planner."""
