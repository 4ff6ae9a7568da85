// Symbols for the demangler's tests: closures, trait and inherent impls, generics, dyn traits,
// fn pointers, arrays, slices, tuples, references, raw pointers, const generics and a non-ASCII
// (punycode-mangled) identifier. Built unoptimized so every instantiation keeps its symbol.
use std::collections::HashMap;
use std::fmt::Debug;
use std::hint::black_box;

pub trait Shape {
    fn area(&self) -> f64;
    fn describe(&self) -> String {
        format!("area {}", self.area())
    }
}

pub struct Square<const N: usize>;
pub struct Flag<const B: bool>;
pub struct Letter<const C: char>;
pub struct Offset<const O: i32>;

impl<const N: usize> Shape for Square<N> {
    fn area(&self) -> f64 {
        (N * N) as f64
    }
}

impl<const B: bool> Flag<B> {
    #[inline(never)]
    pub fn get(&self) -> bool {
        B
    }
}

impl<const C: char> Letter<C> {
    #[inline(never)]
    pub fn get(&self) -> char {
        C
    }
}

impl<const O: i32> Offset<O> {
    #[inline(never)]
    pub fn apply(&self, x: i32) -> i32 {
        x + O
    }
}

#[inline(never)]
pub fn größe(values: &[u32]) -> usize {
    values.len()
}

#[inline(never)]
pub fn generic<T: Debug + Clone, U>(value: &T, extra: U) -> (T, U) {
    (black_box(value.clone()), extra)
}

#[inline(never)]
pub fn with_fn_pointer(f: fn(&mut [u8; 4], *const u16) -> Option<&'static str>) -> usize {
    let mut buf = [0u8; 4];
    f(&mut buf, std::ptr::null()).map_or(0, |s| s.len())
}

#[inline(never)]
pub fn with_higher_ranked(f: for<'a> fn(&'a str) -> &'a str) -> usize {
    f("abc").len()
}

#[inline(never)]
pub fn with_dyn(shapes: &[Box<dyn Shape + Send>], it: &mut dyn Iterator<Item = u8>) -> f64 {
    shapes.iter().map(|s| s.area()).sum::<f64>() + it.count() as f64
}

#[inline(never)]
pub fn with_raw(p: *mut (i64, &'static [char]), q: *const ()) -> bool {
    p.is_null() && q.is_null()
}

fn pick(_: &mut [u8; 4], _: *const u16) -> Option<&'static str> {
    Some("x")
}

fn same(s: &str) -> &str {
    s
}

fn main() {
    let shapes: Vec<Box<dyn Shape + Send>> = vec![Box::new(Square::<3>), Box::new(Square::<5>)];
    let mut counts: HashMap<String, Vec<(u8, i128)>> = HashMap::new();
    counts.entry("a".to_string()).or_default().push((1, -2));
    let closure = |x: u32| x + black_box(1);
    let mut total = 0u64;
    for s in &shapes {
        total += s.describe().len() as u64;
    }
    let mut it = vec![1u8, 2, 3].into_iter();
    println!(
        "{} {} {} {} {:?} {} {} {} {} {} {} {}",
        total,
        closure(2),
        größe(&[1, 2, 3]),
        with_fn_pointer(pick),
        generic(&"text".to_string(), [1.5f32; 2]),
        with_higher_ranked(same),
        with_dyn(&shapes, &mut it),
        with_raw(std::ptr::null_mut(), std::ptr::null()),
        Flag::<true>.get(),
        Letter::<'ß'>.get(),
        Offset::<-7>.apply(1),
        counts.len()
    );
}
