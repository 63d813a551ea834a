//! The same demo as a bare-metal program (riscv32imc, x86_64): handles one request
//! kept in a static and leaves the head in another, so the linker keeps all of it.
#![no_std]
#![no_main]

static REQUEST: &[u8] = b"GET /index.html HTTP/1.1\r\nHost: esp32\r\nRange: bytes=0-99\r\n\r\n";
static mut OUT: [u8; 512] = [0; 512];

#[no_mangle]
pub extern "C" fn _start() -> ! {
    // SAFETY: single-threaded bare-metal entry; OUT has no other reference.
    let out = unsafe { &mut *core::ptr::addr_of_mut!(OUT) };
    let n = mote_http_demo::handle(core::hint::black_box(REQUEST), out);
    core::hint::black_box(n);
    #[allow(clippy::empty_loop)]
    loop {}
}

#[cfg(not(target_arch = "wasm32"))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}

/// Without libc on Linux, the compiler's memory intrinsics need a home. These are the
/// plain byte loops; the demo measures code size, not speed.
#[cfg(target_os = "linux")]
mod mem {
    #[no_mangle]
    pub unsafe extern "C" fn memcpy(d: *mut u8, s: *const u8, n: usize) -> *mut u8 {
        let mut i = 0;
        while i < n {
            // SAFETY: the caller guarantees n valid bytes at both pointers.
            unsafe { *d.add(i) = *s.add(i) };
            i += 1;
        }
        d
    }
    #[no_mangle]
    pub unsafe extern "C" fn memmove(d: *mut u8, s: *const u8, n: usize) -> *mut u8 {
        if (d as usize) <= (s as usize) {
            // SAFETY: a forward copy is correct when the destination starts first.
            return unsafe { memcpy(d, s, n) };
        }
        let mut i = n;
        while i > 0 {
            i -= 1;
            // SAFETY: the caller guarantees n valid bytes at both pointers.
            unsafe { *d.add(i) = *s.add(i) };
        }
        d
    }
    #[no_mangle]
    pub unsafe extern "C" fn memset(d: *mut u8, c: i32, n: usize) -> *mut u8 {
        let mut i = 0;
        while i < n {
            // SAFETY: the caller guarantees n valid bytes at d.
            unsafe { *d.add(i) = c as u8 };
            i += 1;
        }
        d
    }
    #[no_mangle]
    pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
        let mut i = 0;
        while i < n {
            // SAFETY: the caller guarantees n valid bytes at both pointers.
            let (x, y) = unsafe { (*a.add(i), *b.add(i)) };
            if x != y {
                return x as i32 - y as i32;
            }
            i += 1;
        }
        0
    }
    #[no_mangle]
    pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
        // SAFETY: same contract as memcmp.
        unsafe { memcmp(a, b, n) }
    }
}
