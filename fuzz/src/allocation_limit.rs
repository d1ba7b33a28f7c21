//! libFuzzer's `-malloc_limit_mb` needs a sanitizer's allocator, which the stable toolchain
//! does not build; this one plays its part, in the fuzz targets and in the regression
//! tests that replay their inputs: a single allocation of more than 256 MiB, which no
//! input of a few KB justifies, aborts, so the input counts as a crash instead of the run
//! going on under a 1 GiB buffer that a small node could not give.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;

const LIMIT_BYTES: usize = 256 << 20;

struct Limited;

fn check(bytes: usize) {
    if bytes > LIMIT_BYTES {
        // An allocator must not unwind, so no panic; and straight to stderr, past the
        // test harness's capture, which the abort would lose.
        let _ = writeln!(
            std::io::stderr(),
            "allocation of {bytes} bytes, over the fuzzing limit of {LIMIT_BYTES}"
        );
        std::process::abort();
    }
}

// SAFETY: every call goes to the system allocator with the caller's arguments; the
// size check before it allocates nothing.
unsafe impl GlobalAlloc for Limited {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        // SAFETY: the caller upholds `alloc`'s contract, passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        // SAFETY: as in `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        check(new_size);
        // SAFETY: the caller upholds `realloc`'s contract, passed on unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, so from the system's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Limited = Limited;
