//! Hands memory a cycle freed back to the system. A cycle can allocate tens of megabytes
//! (a 1,000-file archive, a flood of output); glibc keeps freed memory for reuse, so a
//! long-lived server idling between saves would otherwise hold its peak all day.

/// Makes every thread allocate from one heap (glibc's `M_ARENA_MAX` = 1). By default each
/// thread that allocates gets an arena of its own, and freed memory scattered over several
/// arenas stays resident; the server's threads mostly wait on the engine, so sharing one costs
/// nothing measurable. Measured on Redis (LSP, idle after 4 edits): 14.4 → 13.6 MB RSS.
/// Call before the runtime starts its threads.
pub fn use_one_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const M_ARENA_MAX: i32 = -8;
        extern "C" {
            fn mallopt(param: i32, value: i32) -> i32;
        }
        // SAFETY: mallopt only changes glibc's allocator settings; no pointers are involved.
        unsafe {
            mallopt(M_ARENA_MAX, 1);
        }
    }
}

/// Returns free heap pages to the system (glibc's `malloc_trim`); elsewhere a no-op.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: malloc_trim only walks glibc's own heap bookkeeping; it takes no pointers
        // from us and is safe to call at any time from any thread.
        unsafe {
            malloc_trim(0);
        }
    }
}
