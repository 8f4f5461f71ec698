//! exec-config (in progress)
