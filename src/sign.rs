//! Signing orchestration.
