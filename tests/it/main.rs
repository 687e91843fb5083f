//! Integration tests, one module per area (one test binary, linked once).
mod sandbox;
