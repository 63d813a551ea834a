//! mote-httpd skeleton: exits 0. Replaced by the real server.
#![no_std]
#![no_main]

use core::panic::PanicInfo;

#[panic_handler]
fn panic(_: &PanicInfo) -> ! {
    loop {}
}

#[no_mangle]
pub extern "C" fn _start() -> ! {
    // SAFETY: exit_group never returns.
    unsafe { core::arch::asm!("syscall", in("rax") 231, in("rdi") 0, options(noreturn)) }
}
