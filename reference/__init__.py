"""Readable reference ODE solvers and adjoints with torchdiffeq's `odeint` API."""
