"""Demo deal files (package data): the issue's example deal and a Chinese weekly deal."""
