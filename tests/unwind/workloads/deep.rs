//! Test workload for profiler.unwind: Rust release code, deep and varied call paths, with
//! register + stack snapshots taken by inline asm. Usage: deep OUTDIR COUNT
//! Writes OUTDIR/rust<N>.snap (u64 rip, rsp, rbp, length, stack bytes) and OUTDIR/rust<N>.maps.
use std::arch::asm;
use std::fs;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

static TAKEN: AtomicUsize = AtomicUsize::new(0);
static mut OUTDIR: String = String::new();
const STACK_COPY: u64 = 16384;

fn stack_end(addr: u64) -> u64 {
    let maps = fs::read_to_string("/proc/self/maps").unwrap();
    for line in maps.lines() {
        let range = line.split_whitespace().next().unwrap();
        let (lo, hi) = range.split_once('-').unwrap();
        let lo = u64::from_str_radix(lo, 16).unwrap();
        let hi = u64::from_str_radix(hi, 16).unwrap();
        if lo <= addr && addr < hi {
            return hi;
        }
    }
    addr + STACK_COPY
}

#[inline(never)]
fn take_snapshot(tag: usize) -> usize {
    let (rip, rsp, rbp): (u64, u64, u64);
    unsafe {
        asm!("lea {0}, [rip]", "mov {1}, rsp", "mov {2}, rbp",
             out(reg) rip, out(reg) rsp, out(reg) rbp);
    }
    let len = (stack_end(rsp) - rsp).min(STACK_COPY);
    let mut out = Vec::with_capacity(32 + len as usize);
    for v in [rip, rsp, rbp, len] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    let stack = unsafe { std::slice::from_raw_parts(rsp as *const u8, len as usize) };
    out.extend_from_slice(stack);
    let n = TAKEN.fetch_add(1, Ordering::SeqCst);
    #[allow(static_mut_refs)]
    let dir = unsafe { OUTDIR.clone() };
    fs::write(format!("{dir}/rust{n}.snap"), &out).unwrap();
    fs::copy("/proc/self/maps", format!("{dir}/rust{n}.maps")).unwrap();
    tag + n
}

#[inline(never)]
fn recurse(depth: usize, acc: u64) -> u64 {
    if depth == 0 {
        return take_snapshot(acc as usize) as u64;
    }
    let mut buf = [0u64; 8];
    buf[depth % 8] = acc;
    let r = recurse(depth - 1, black_box(acc.wrapping_mul(31) + buf[depth % 8]));
    r.wrapping_mul(r) ^ depth as u64
}

#[inline(never)]
fn via_closure(depth: usize) -> u64 {
    let f = |d: usize| -> u64 { recurse(d, 7) + 1 };
    black_box(f)(depth)
}

#[inline(never)]
fn via_sort(seed: u64) -> u64 {
    let mut v: Vec<u64> = (0..32).map(|i| (i * 2654435761u64 ^ seed) % 101).collect();
    let mut first = true;
    v.sort_by(|a, b| {
        if first {
            first = false;
            black_box(recurse(3, *a));
        }
        a.cmp(b)
    });
    v[0] + v[31]
}

#[inline(never)]
fn via_iterator(n: usize) -> u64 {
    (0..n).map(|i| if i == n / 2 { recurse(i % 5, i as u64) } else { i as u64 }).sum()
}

trait Shape {
    fn area(&self, depth: usize) -> u64;
}
struct Square(u64);
impl Shape for Square {
    #[inline(never)]
    fn area(&self, depth: usize) -> u64 {
        recurse(depth, self.0) + self.0 * self.0
    }
}

#[inline(never)]
fn via_dyn(shape: &dyn Shape, depth: usize) -> u64 {
    black_box(shape).area(depth) + 1
}

#[inline(never)]
fn one_round(round: usize) -> u64 {
    let mut total = 0;
    total += recurse(5 + round % 20, round as u64);
    total += via_closure(1 + round % 7);
    total += via_sort(round as u64);
    total += via_iterator(10 + round);
    total += via_dyn(&Square(round as u64), round % 9);
    total
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    unsafe {
        OUTDIR = args[1].clone();
    }
    let rounds: usize = args[2].parse().unwrap();
    let mut total = 0u64;
    for round in 0..rounds {
        total = total.wrapping_add(one_round(round));
    }
    let handle = std::thread::spawn(move || one_round(rounds + 3));
    total = total.wrapping_add(handle.join().unwrap());
    println!("{total}");
}
