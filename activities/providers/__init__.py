"""Providers turn an agent call (role, input, output model, prompt) into an answer with usage."""
