//! The start-up guard: a binary compiled for CPU features this CPU lacks exits with an
//! error naming them and the variant to use instead, rather than dying of SIGILL later:
//!
//! ```text
//! error: this sutra-storage binary was built for graviton3 (neon, dotprod, i8mm, sve, lse)
//! but this CPU lacks: i8mm, sve; use the graviton2 image variant
//! ```
//!
//! It is written in C (`cpu_guard.c`, compiled by build.rs for the architecture baseline)
//! and runs from `.preinit_array`, before the Rust runtime and `main`: every Rust function
//! of a variant binary is compiled with the variant's `target-cpu` and may execute its
//! features, the guard's own checks included, so no Rust code can safely come first.
//! `make test-guard` runs each variant on emulated CPUs that lack its features.

/// Exit code of a binary that cannot run on this CPU (`EXIT_WRONG_CPU` in `cpu_guard.c`).
pub const EXIT_WRONG_CPU: u8 = 3;
