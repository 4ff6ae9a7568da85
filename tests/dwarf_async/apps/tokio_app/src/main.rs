//! A Tokio program with a known async call tree, for pureprof's DWARF and async-stack tests.
//!
//! handler -> compute -> crunch (CPU-heavy leaf loop, inlined into compute's async body)
//!         -> tokio::spawn(background) -> crunch_more
//!         -> io_wait (a timer)
//!
//! Usage: tokio_app [SECONDS]   (default 0: one round, then exit)

use std::hint::black_box;
use std::time::{Duration, Instant};

/// The CPU-heavy leaf: a loop the compiler cannot fold away.
#[inline]
fn crunch(rounds: u64) -> u64 {
    let mut acc = 0x9e37_79b9_7f4a_7c15u64;
    for i in 0..rounds {
        acc = black_box(acc.rotate_left(5) ^ i).wrapping_mul(0x100_0000_01b3);
    }
    acc
}

#[inline]
fn crunch_more(rounds: u64) -> u64 {
    let mut acc = 1u64;
    for i in 0..rounds {
        acc = black_box(acc.wrapping_add(i).rotate_right(3));
    }
    acc
}

async fn compute(rounds: u64) -> u64 {
    tokio::task::yield_now().await;
    crunch(rounds)
}

async fn background(rounds: u64) -> u64 {
    tokio::task::yield_now().await;
    crunch_more(rounds)
}

async fn io_wait() -> u64 {
    tokio::time::sleep(Duration::from_millis(1)).await;
    1
}

async fn handler(rounds: u64) -> u64 {
    let a = compute(rounds).await;
    let b = tokio::spawn(background(rounds / 2)).await.unwrap_or(0);
    let c = io_wait().await;
    a ^ b ^ c
}

fn main() {
    let seconds: u64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("tokio runtime");
    let deadline = Instant::now() + Duration::from_secs(seconds);
    // Run the handlers as spawned tasks so that they execute on the worker threads.
    let total = runtime.block_on(async move {
        let mut total = 0u64;
        loop {
            total ^= tokio::spawn(handler(2_000_000)).await.unwrap_or(0);
            if Instant::now() >= deadline {
                break total;
            }
        }
    });
    println!("{total}");
}
