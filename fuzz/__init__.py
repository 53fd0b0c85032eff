"""Coverage-guided fuzzing (atheris) of the review decoder, the engine, policies and CEL."""
