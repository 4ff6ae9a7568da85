//! A Rust release workload for the profiler: two threads (main and a spawned one) running a
//! nested call tree, built without frame pointers. Usage: threads SECONDS [wait]
//! Prints its pid first; with a second argument it waits for a line on stdin before it starts.
use std::hint::black_box;
use std::io::BufRead;
use std::time::{Duration, Instant};

#[inline(never)]
fn mix(mut x: u64, n: u64) -> u64 {
    for i in 0..n {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(i ^ (x >> 7));
    }
    x
}

#[inline(never)]
fn leaf_mix(x: u64) -> u64 {
    mix(x, 20_000)
}

#[inline(never)]
fn leaf_sort(x: u64) -> u64 {
    let mut v: Vec<u64> = (0..2_000).map(|i| mix(x ^ i, 8)).collect();
    v.sort_unstable();
    v[0]
}

#[inline(never)]
fn middle(x: u64, depth: u32) -> u64 {
    if depth == 0 {
        leaf_mix(x) ^ leaf_sort(x)
    } else {
        black_box(middle(x.wrapping_add(depth as u64), depth - 1))
    }
}

#[inline(never)]
fn worker(seconds: f64, seed: u64) -> u64 {
    let start = Instant::now();
    let mut acc = seed;
    while start.elapsed() < Duration::from_secs_f64(seconds) {
        acc ^= middle(acc, 6);
    }
    acc
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seconds: f64 = args.get(1).map(|s| s.parse().unwrap()).unwrap_or(3.0);
    println!("{}", std::process::id());
    if args.len() > 2 {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).unwrap();
    }
    let t = std::thread::Builder::new()
        .name("worker-2".into())
        .spawn(move || worker(seconds, 7))
        .unwrap();
    let a = worker(seconds, 3);
    let b = t.join().unwrap();
    println!("{{\"result\": {}}}", a ^ b);
}
