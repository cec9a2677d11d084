//! The binary's allocator: the main thread's first few MiB of allocations come from an
//! arena in the executable's own zero-initialised memory; everything else, and anything
//! that does not fit, from the fallback (mimalloc in the shipped binary).
//!
//! A short command (`transform` of a small model) is mostly the cost of starting a
//! process, and on a virtual machine a good part of that is fresh memory: the kernel
//! clears every page a process touches first, about 1 µs per 4 KiB page here, and
//! 0.15 ms for a 2 MiB transparent huge page. mimalloc, which the large models need,
//! gives every size class its own 64 KiB page and advises its whole arena to use huge
//! pages, so a one-node `transform` touched two huge pages (4 MiB cleared) to allocate
//! 140 KiB. The arena packs blocks of every size together instead:
//!
//! ```text
//! static region, 4 MiB, aligned to 2 MiB:
//! [ never touched ........... | 384 KiB of 4 KiB pages | 2 MiB: one huge page        ]
//!                               ^ the arena starts here  ^ advised MADV_HUGEPAGE once
//!                                                          the arena reaches it
//! ```
//!
//! - A block under [`LARGE_BLOCK`] is rounded up to a power of two (16 bytes at least) and
//!   cut from the arena's end; freed, it goes on its size's free list and is handed out
//!   again. A command whose live blocks fit in 384 KiB touches a page per 4 KiB of them.
//! - A larger block (a model's bytes, an encoder's buffer) marks a command that will not
//!   stay small: it and every block after it are cut from the huge page, which is advised
//!   before any of it is handed out, so one 2 MiB page serves the next 2 MiB, where
//!   mimalloc's first segment would have cost two. Freed, a large block returns to the
//!   arena only if it is the last one cut.
//! - Past the arena, and on every other thread, nothing changes: the fallback serves.
//!
//! Measured on the whole `transform` command with the cleanup recipe, the same binary with
//! mimalloc alone against it with the arena, 400 interleaved runs each (fastest, and
//! median): a one-node model 0.84 → 0.78 ms (median 1.06 → 0.91 ms); a 27-node one
//! (qonnx_sdp_attention) 0.92 → 0.92 ms (1.21 → 1.09 ms); brevitas_tfc_1w1a 1.21 →
//! 1.18 ms (1.37 → 1.32 ms); AlexNet, squeezenet and inception unchanged within noise.
//! BENCHMARKS-transforms.md has every model.
//!
//! Only the thread that allocates first (the main thread: the runtime allocates before
//! `main`) uses the arena, so its lists and end need no atomic operation. Another thread's
//! allocations go to the fallback; a block of the arena freed by another thread stays
//! used. Every `dealloc` and `realloc` first asks whether the pointer is the arena's, a
//! subtraction and a compare; every `alloc` whether this is the owning thread, a compare
//! with the address of a thread-local byte.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::UnsafeCell;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The size (and alignment) of a transparent huge page on x86-64 and most aarch64 Linux.
const HUGE: usize = 2 << 20;
/// The arena's part of plain 4 KiB pages, before the huge page: what a small model's whole
/// `transform` keeps live (a 27-node model about 280 KiB). A page costs about a 150th of a
/// huge page, so up to some 600 KiB they are the cheaper.
const SMALL: usize = 384 << 10;
/// The smallest large block. The largest block a one-node `transform` allocates is clap's
/// table of subcommands, 12 KiB.
const LARGE_BLOCK: usize = 16 << 10;
/// Small blocks' sizes: 16 bytes to `LARGE_BLOCK`, powers of two.
const CLASSES: usize = (LARGE_BLOCK / MIN_BLOCK).trailing_zeros() as usize + 1;
const MIN_BLOCK: usize = 16;

/// The allocator's memory, in `.bss`: it costs nothing until a page is touched.
#[repr(C, align(2097152))]
struct Region(UnsafeCell<[u8; 2 * HUGE]>);

// SAFETY: the region's bytes are reached only through the one `Arena` over it.
unsafe impl Sync for Region {}

static REGION: Region = Region(UnsafeCell::new([0; 2 * HUGE]));

#[cfg(feature = "mimalloc")]
type Fallback = mimalloc::MiMalloc;
#[cfg(feature = "mimalloc")]
const FALLBACK: Fallback = mimalloc::MiMalloc;
#[cfg(not(feature = "mimalloc"))]
type Fallback = std::alloc::System;
#[cfg(not(feature = "mimalloc"))]
const FALLBACK: Fallback = std::alloc::System;

/// The process's allocator, the only arena over [`REGION`]: the last `SMALL` bytes below
/// the region's middle, then the huge page above it.
#[global_allocator]
static ALLOCATOR: StartArena<Fallback> = StartArena {
    fallback: FALLBACK,
    arena: Arena::new(
        REGION.0.get().cast::<u8>().wrapping_add(HUGE - SMALL),
        SMALL + HUGE,
        SMALL,
    ),
};

/// An [`Arena`] in front of `fallback`.
struct StartArena<A> {
    fallback: A,
    arena: Arena,
}

/// `len` bytes from `base`, handed out to one thread; see the module's documentation.
struct Arena {
    base: *mut u8,
    len: usize,
    /// The offset of the huge page's part: large blocks start there or later, and the
    /// memory from there is advised to use huge pages before it is first handed out.
    huge_from: usize,
    /// The address of the owning thread's [`THREAD`] byte; 0 until a thread allocates.
    owner: AtomicUsize,
    /// Only the owner reaches it.
    state: UnsafeCell<State>,
}

struct State {
    /// The offset of the first byte never handed out.
    end: usize,
    /// From this offset on, the memory has never been written: it is still zero.
    clean_from: usize,
    /// Freed small blocks, by size class: each holds the next one's address.
    free: [*mut u8; CLASSES],
    advised: bool,
}

// SAFETY: `base` is only an address, and `state` is reached by the owning thread alone.
unsafe impl Sync for Arena {}

thread_local! {
    /// A byte whose address tells threads apart. No destructor and a constant
    /// initialiser: reading it never allocates, even while a thread ends.
    static THREAD: u8 = const { 0 };
}

fn this_thread() -> usize {
    THREAD.with(|byte| ptr::from_ref(byte) as usize)
}

/// The size class of a small block of `layout`, if it is one.
fn class(layout: Layout) -> Option<usize> {
    if layout.size() >= LARGE_BLOCK || layout.align() >= LARGE_BLOCK {
        return None;
    }
    let size = layout.size().max(layout.align()).max(MIN_BLOCK);
    Some((size.next_power_of_two() / MIN_BLOCK).trailing_zeros() as usize)
}

fn class_size(class: usize) -> usize {
    MIN_BLOCK << class
}

impl Arena {
    const fn new(base: *mut u8, len: usize, huge_from: usize) -> Arena {
        Arena {
            base,
            len,
            huge_from,
            owner: AtomicUsize::new(0),
            state: UnsafeCell::new(State {
                end: 0,
                clean_from: 0,
                free: [ptr::null_mut(); CLASSES],
                advised: false,
            }),
        }
    }

    fn owns(&self, ptr: *mut u8) -> bool {
        (ptr as usize).wrapping_sub(self.base as usize) < self.len
    }

    /// Runs `f` on the state if this thread owns the arena (the first to ask becomes its
    /// owner); `None` on any other thread.
    fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> Option<R> {
        let me = this_thread();
        let owner = self.owner.load(Ordering::Relaxed);
        let mine = owner == me
            || (owner == 0
                && self
                    .owner
                    .compare_exchange(0, me, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok());
        // SAFETY: only the owning thread gets here, and `f` (a method of `Arena` below,
        // which allocates nothing and calls no `with_state`) holds the only borrow.
        mine.then(|| f(unsafe { &mut *self.state.get() }))
    }

    /// A block for `layout`, and whether it is still zero.
    fn alloc(&self, layout: Layout) -> Option<(NonNull<u8>, bool)> {
        self.with_state(|state| self.alloc_in(state, layout))
            .flatten()
    }

    /// Takes back a block of the arena (another thread's free: the block stays used).
    fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        self.with_state(|state| self.dealloc_in(state, ptr, layout));
    }

    /// Resizes a block of the arena where it is, if it can: a small block within its size
    /// class, a large one when it is the last one cut (or when it shrinks).
    fn resize_in_place(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> bool {
        self.with_state(|state| self.resize_in(state, ptr, layout, new_size))
            .unwrap_or(false)
    }

    fn alloc_in(&self, state: &mut State, layout: Layout) -> Option<(NonNull<u8>, bool)> {
        let (size, from, align) = match class(layout) {
            Some(class) => {
                let head = state.free[class];
                if !head.is_null() && layout.align() <= MIN_BLOCK {
                    // SAFETY: a freed block of this class, at least 16 bytes, holding the
                    // next one's address (written by `dealloc`).
                    state.free[class] = unsafe { head.cast::<*mut u8>().read() };
                    return Some((NonNull::new(head)?, false));
                }
                (class_size(class), state.end, layout.align().max(MIN_BLOCK))
            }
            None if layout.align() > 4096 => return None,
            None => (
                layout.size(),
                state.end.max(self.huge_from),
                layout.align().max(MIN_BLOCK),
            ),
        };
        let base = self.base as usize;
        let start = (base + from).checked_next_multiple_of(align)? - base;
        let end = start.checked_add(size)?;
        if end > self.len {
            return None;
        }
        let zero = start >= state.clean_from;
        self.cut_to(state, end);
        Some((NonNull::new(self.base.wrapping_add(start))?, zero))
    }

    fn dealloc_in(&self, state: &mut State, ptr: *mut u8, layout: Layout) {
        match class(layout) {
            Some(class) => {
                // SAFETY: the block is at least 16 bytes, aligned to 16, and no longer
                // anyone's: it holds the list's next address now.
                unsafe { ptr.cast::<*mut u8>().write(state.free[class]) };
                state.free[class] = ptr;
            }
            None => {
                let start = ptr as usize - self.base as usize;
                if start + layout.size() == state.end {
                    state.end = start;
                }
            }
        }
    }

    fn resize_in(&self, state: &mut State, ptr: *mut u8, layout: Layout, new_size: usize) -> bool {
        match class(layout) {
            Some(class) => new_size <= class_size(class) && new_size < LARGE_BLOCK,
            // A large block shrunk below `LARGE_BLOCK` would be freed onto a small list as
            // a whole power of two, bytes that a shrink of the last block gives back: it
            // moves instead.
            None if new_size < LARGE_BLOCK => false,
            None => {
                let start = ptr as usize - self.base as usize;
                let last = start + layout.size() == state.end;
                if new_size <= layout.size() {
                    if last {
                        state.end = start + new_size;
                    }
                    return true;
                }
                match start.checked_add(new_size) {
                    Some(end) if last && end <= self.len => {
                        self.cut_to(state, end);
                        true
                    }
                    _ => false,
                }
            }
        }
    }

    /// Moves the arena's end forward to `end` (no longer zero memory up to it), advising
    /// the huge page's part once the arena first reaches it: before the block is
    /// returned, so before any of it is touched.
    fn cut_to(&self, state: &mut State, end: usize) {
        state.end = end;
        state.clean_from = state.clean_from.max(end);
        if end > self.huge_from && !state.advised {
            state.advised = true;
            advise_huge(
                self.base.wrapping_add(self.huge_from),
                self.len - self.huge_from,
            );
        }
    }
}

/// Asks the kernel for transparent huge pages over `len` bytes at `ptr` (2 MiB aligned).
/// A kernel without them, or one that refuses, leaves 4 KiB pages: nothing else changes.
#[cfg(target_os = "linux")]
fn advise_huge(ptr: *mut u8, len: usize) {
    // SAFETY: `madvise` only changes how the range is paged; the range is this arena's
    // own memory, whatever its contents.
    unsafe {
        libc::madvise(ptr.cast(), len, libc::MADV_HUGEPAGE);
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge(_: *mut u8, _: usize) {}

// SAFETY: every block handed out is either the arena's (disjoint from every other live
// block, as large and aligned as asked) or the fallback's, and each is given back to the
// allocator it came from, told apart by its address.
unsafe impl<A: GlobalAlloc> GlobalAlloc for StartArena<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match self.arena.alloc(layout) {
            Some((ptr, _)) => ptr.as_ptr(),
            // SAFETY: the caller's contract is the fallback's.
            None => unsafe { self.fallback.alloc(layout) },
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match self.arena.alloc(layout) {
            Some((ptr, zero)) => {
                if !zero {
                    // SAFETY: the block is `layout.size()` bytes, ours alone.
                    unsafe { ptr.as_ptr().write_bytes(0, layout.size()) };
                }
                ptr.as_ptr()
            }
            // SAFETY: the caller's contract is the fallback's.
            None => unsafe { self.fallback.alloc_zeroed(layout) },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if self.arena.owns(ptr) {
            self.arena.dealloc(ptr, layout);
        } else {
            // SAFETY: a block not in the arena came from the fallback, with `layout`.
            unsafe { self.fallback.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !self.arena.owns(ptr) {
            // SAFETY: a block not in the arena came from the fallback, with `layout`.
            return unsafe { self.fallback.realloc(ptr, layout, new_size) };
        }
        if self.arena.resize_in_place(ptr, layout, new_size) {
            return ptr;
        }
        // SAFETY: `realloc`'s contract: `new_size`, rounded up to the alignment, does not
        // overflow `isize`.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: `new_size` is not zero, by `realloc`'s contract.
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are live and disjoint, each at least as long as what is
            // copied.
            unsafe { ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
            self.arena.dealloc(ptr, layout);
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::{Arena, CLASSES, LARGE_BLOCK, StartArena, class};
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// `len` bytes of page-aligned, zeroed memory, for an arena of a test's own.
    struct Memory {
        ptr: *mut u8,
        layout: Layout,
    }

    impl Memory {
        fn new(len: usize) -> Memory {
            let layout = Layout::from_size_align(len, 4096).unwrap();
            // SAFETY: `len` is not zero in these tests.
            let ptr = unsafe { System.alloc_zeroed(layout) };
            assert!(!ptr.is_null());
            Memory { ptr, layout }
        }

        fn arena(&self, huge_from: usize) -> Arena {
            Arena::new(self.ptr, self.layout.size(), huge_from)
        }

        fn at(&self, offset: usize) -> usize {
            self.ptr as usize + offset
        }
    }

    impl Drop for Memory {
        fn drop(&mut self) {
            // SAFETY: allocated in `new` with this layout.
            unsafe { System.dealloc(self.ptr, self.layout) }
        }
    }

    /// The system allocator, counting the blocks it hands out and takes back.
    #[derive(Default)]
    struct Counting {
        allocs: AtomicUsize,
        deallocs: AtomicUsize,
    }

    // SAFETY: passes every call on to `System`.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            self.allocs.fetch_add(1, Ordering::Relaxed);
            // SAFETY: the caller's contract.
            unsafe { System.alloc(layout) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            self.deallocs.fetch_add(1, Ordering::Relaxed);
            // SAFETY: the caller's contract.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    fn alloc(arena: &Arena, size: usize, align: usize) -> Option<usize> {
        arena
            .alloc(layout(size, align))
            .map(|(ptr, _)| ptr.as_ptr() as usize)
    }

    #[test]
    fn size_classes_are_powers_of_two_below_the_large_block() {
        assert_eq!(class(layout(1, 1)), Some(0));
        assert_eq!(class(layout(16, 8)), Some(0));
        assert_eq!(class(layout(17, 1)), Some(1));
        assert_eq!(class(layout(8, 64)), Some(2));
        assert_eq!(class(layout(LARGE_BLOCK - 1, 8)), Some(CLASSES - 1));
        assert_eq!(class(layout(LARGE_BLOCK, 8)), None);
        assert_eq!(class(layout(8, LARGE_BLOCK)), None);
    }

    #[test]
    fn blocks_are_aligned_disjoint_and_inside_until_the_arena_is_full() {
        let memory = Memory::new(256 << 10);
        let arena = memory.arena(128 << 10);
        let mut blocks = Vec::new();
        for (i, align) in [1, 8, 2, 64, 16, 4096, 1].into_iter().cycle().enumerate() {
            let size = if i % 10 == 9 {
                20_000 + i
            } else {
                1 + (i * 7919) % 5000
            };
            let Some(ptr) = alloc(&arena, size, align) else {
                break;
            };
            assert_eq!(ptr % align, 0);
            assert!(ptr >= memory.at(0) && ptr + size <= memory.at(256 << 10));
            // Large blocks are cut from the huge part alone.
            if size >= LARGE_BLOCK {
                assert!(ptr >= memory.at(128 << 10));
            }
            blocks.push((ptr, size));
        }
        assert!(blocks.len() > 20, "{} blocks", blocks.len());
        blocks.sort();
        for pair in blocks.windows(2) {
            assert!(pair[0].0 + pair[0].1 <= pair[1].0, "{pair:?} overlap");
        }
        // Full: a block that would not fit is refused.
        assert!(alloc(&arena, 100 << 10, 1).is_none());
    }

    #[test]
    fn freed_small_blocks_are_handed_out_again_by_size() {
        let memory = Memory::new(64 << 10);
        let arena = memory.arena(32 << 10);
        let a = alloc(&arena, 100, 8).unwrap();
        let b = alloc(&arena, 100, 8).unwrap();
        assert_eq!(b, a + 128);
        arena.dealloc(a as *mut u8, layout(100, 8));
        // Another size does not take it; the same class does, whatever the exact size.
        let c = alloc(&arena, 40, 8).unwrap();
        assert_eq!(c, b + 128);
        assert_eq!(alloc(&arena, 65, 4).unwrap(), a);
        // A freed block is not zero any more; a fresh one is.
        arena.dealloc(b as *mut u8, layout(100, 8));
        assert!(!arena.alloc(layout(128, 16)).unwrap().1);
        assert!(arena.alloc(layout(128, 16)).unwrap().1);
        // An alignment beyond 16 is not served from a list.
        arena.dealloc(a as *mut u8, layout(65, 4));
        let d = alloc(&arena, 100, 64).unwrap();
        assert_ne!(d, a);
        assert_eq!(d % 64, 0);
    }

    #[test]
    fn a_large_block_moves_the_end_to_the_huge_part_and_is_advised_once() {
        let memory = Memory::new(256 << 10);
        let arena = memory.arena(64 << 10);
        let small = alloc(&arena, 100, 8).unwrap();
        assert_eq!(small, memory.at(0));
        let large = alloc(&arena, LARGE_BLOCK, 8).unwrap();
        assert_eq!(large, memory.at(64 << 10));
        assert_eq!(arena.with_state(|state| state.advised), Some(true));
        // Small blocks follow it now.
        assert_eq!(alloc(&arena, 8, 8).unwrap(), large + LARGE_BLOCK);
    }

    #[test]
    fn blocks_grow_in_place_within_their_class_or_when_last() {
        let memory = Memory::new(256 << 10);
        let arena = memory.arena(0);
        let small = alloc(&arena, 20, 8).unwrap() as *mut u8;
        assert!(arena.resize_in_place(small, layout(20, 8), 32));
        assert!(!arena.resize_in_place(small, layout(32, 8), 33));
        let large = alloc(&arena, 20_000, 8).unwrap() as *mut u8;
        assert!(arena.resize_in_place(large, layout(20_000, 8), 100_000));
        // Past the end: refused.
        assert!(!arena.resize_in_place(large, layout(100_000, 8), 300 << 10));
        // A shrink of the last block gives its tail back.
        assert!(arena.resize_in_place(large, layout(100_000, 8), 30_000));
        let next = alloc(&arena, 20_000, 8).unwrap();
        assert_eq!(next, large as usize + 30_000);
        // No longer the last: it cannot grow.
        assert!(!arena.resize_in_place(large, layout(30_000, 8), 40_000));
        // Below the large size it moves: freed, it would go on a small list as a whole
        // power of two.
        assert!(!arena.resize_in_place(large, layout(30_000, 8), LARGE_BLOCK - 1));
        // The last large block, freed, is cut again.
        arena.dealloc(next as *mut u8, layout(20_000, 8));
        assert_eq!(alloc(&arena, 20_000, 8).unwrap(), next);
    }

    #[test]
    fn another_thread_is_served_by_the_fallback_and_its_frees_keep_the_block() {
        let memory = Memory::new(64 << 10);
        let arena = memory.arena(32 << 10);
        let mine = alloc(&arena, 100, 8).unwrap();
        std::thread::scope(|s| {
            s.spawn(|| {
                assert!(alloc(&arena, 100, 8).is_none());
                assert!(!arena.resize_in_place(mine as *mut u8, layout(100, 8), 110));
                arena.dealloc(mine as *mut u8, layout(100, 8));
            });
        });
        // The block was not put on a list: the next of its class is a fresh one.
        assert_ne!(alloc(&arena, 100, 8).unwrap(), mine);
    }

    /// What the process does with its allocator, on a small arena: contents survive every
    /// move between the arena and the fallback, from the owning thread and from others at
    /// the same time, and every fallback block is given back to the fallback.
    #[test]
    fn contents_survive_reallocation_across_the_arena_and_the_fallback() {
        let memory = Memory::new(64 << 10);
        let alloc = StartArena {
            fallback: Counting::default(),
            arena: memory.arena(16 << 10),
        };
        let work = |thread: u8| {
            for round in 0..300usize {
                let fill = thread.wrapping_mul(31).wrapping_add(round as u8);
                let mut size = 1 + (round * 7919 + thread as usize * 13) % 12_000;
                let align = 1 << (round % 6);
                // SAFETY: sizes are not zero; every block is used within its length and
                // given back with its current layout.
                unsafe {
                    let mut ptr = alloc.alloc(layout(size, align));
                    assert!(!ptr.is_null());
                    ptr.write_bytes(fill, size);
                    for step in [3, 1, 9, 2] {
                        let new_size = size * step / 2 + 1;
                        ptr = alloc.realloc(ptr, layout(size, align), new_size);
                        assert!(!ptr.is_null());
                        assert_eq!(ptr as usize % align, 0);
                        let kept = std::slice::from_raw_parts(ptr, size.min(new_size));
                        assert!(kept.iter().all(|&b| b == fill), "round {round}");
                        ptr.write_bytes(fill, new_size);
                        size = new_size;
                    }
                    let zeroed = alloc.alloc_zeroed(layout(size, align));
                    let zeros = std::slice::from_raw_parts(zeroed, size);
                    assert!(zeros.iter().all(|&b| b == 0));
                    zeroed.write_bytes(0xee, size);
                    alloc.dealloc(zeroed, layout(size, align));
                    alloc.dealloc(ptr, layout(size, align));
                }
            }
        };
        work(0);
        let fallback = &alloc.fallback;
        assert!(
            fallback.allocs.load(Ordering::Relaxed) > 0,
            "the arena never filled up"
        );
        std::thread::scope(|s| {
            for thread in 1..4u8 {
                s.spawn(move || work(thread));
            }
            work(4);
        });
        assert_eq!(
            fallback.allocs.load(Ordering::Relaxed),
            fallback.deallocs.load(Ordering::Relaxed)
        );
    }
}
