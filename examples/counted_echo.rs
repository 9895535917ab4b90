//! The echo example (`examples/echo.rs`, the same arguments) with a counting allocator,
//! so that a test can ask the server what it really holds: each line `heap` on its stdin
//! is answered on stdout with `heap BYTES`, the bytes allocated and not yet freed (what
//! the C library keeps for reuse is not counted, unlike the resident set).

use std::io::BufRead;

use cap::Cap;

#[path = "echo.rs"]
mod echo;

#[global_allocator]
static HEAP: Cap<std::alloc::System> = Cap::new(std::alloc::System, usize::MAX);

fn main() {
    std::thread::spawn(|| {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if line.trim() == "heap" {
                println!("heap {}", HEAP.allocated());
            }
        }
    });
    echo::main();
}
