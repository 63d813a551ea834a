//! mote-httpd: a static HTTP/1.1 server in a few kilobytes. No libc, no heap, one static
//! ELF. See README.md in this crate for the design and its trade-offs.
#![no_std]
#![no_main]

mod config;
mod etag;
mod files;
mod log;
mod num;
mod respond;
mod seccomp;
mod server;
mod sys;

/// Called by the entry point in `sys` with the arguments and the environment; returns
/// the exit code.
fn main(args: sys::Strs, env: sys::Strs) -> i32 {
    let mut cfg = config::Config::new();
    match config::parse(&mut cfg, args, env) {
        Ok(()) => server::run(&cfg),
        Err(code) => code,
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // Never reached by design (no indexing or arithmetic that can panic on input); if it
    // is, end the process rather than continue in an unknown state.
    sys::exit(101)
}
