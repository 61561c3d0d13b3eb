"""Adapters: one per server, framework or platform. Each turns parsed files into neutral model facts."""
