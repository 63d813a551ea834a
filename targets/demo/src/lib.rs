//! One request in, one response head out: the whole of mote-http's decision path
//! (parse, path, conditionals, Range, encoding, MIME, head writing), with no I/O.
//! The host gives the request bytes; a real server would then send the body.
#![no_std]

use mote_http::{cond, encoding, mime, path, range, HeadWriter, Header, Parsed};

/// A fixed "file" the demo pretends to serve: its length, mtime and ETag.
const FILE_LEN: u64 = 1234;
const FILE_MTIME: u64 = 1_700_000_000;
const FILE_ETAG: &[u8] = b"\"demo-1234\"";
const NOW: u64 = 1_800_000_000;

/// Handles one request head in `input`, writes the response head into `out` and
/// returns its length (0 if `out` was too small, or the head is incomplete).
pub fn handle(input: &[u8], out: &mut [u8]) -> usize {
    let mut headers = [Header::default(); 32];
    let mut norm = [0u8; 256];
    let (status, ctype, enc, cr) = match mote_http::parse_request(input, &mut headers) {
        Err(e) => (e.status, &b"text/plain"[..], None, None),
        Ok(Parsed::Partial) => return 0,
        Ok(Parsed::Complete(req)) => match path::normalize(req.path, &mut norm) {
            Err(_) => (400, &b"text/plain"[..], None, None),
            Ok(p) => {
                let ct = mime::from_path(p);
                let enc = req
                    .header(b"accept-encoding")
                    .and_then(|a| encoding::negotiate(a, 0b111));
                match cond::evaluate(&req, FILE_ETAG, FILE_MTIME) {
                    cond::Outcome::NotModified => (304, ct, enc, None),
                    cond::Outcome::PreconditionFailed => (412, ct, enc, None),
                    cond::Outcome::Proceed { range_allowed } => match req.header(b"range") {
                        Some(r) if range_allowed => match range::decide(r, FILE_LEN) {
                            range::RangeDecision::Partial { start, end } => {
                                (206, ct, enc, Some((start, end)))
                            }
                            range::RangeDecision::Unsatisfiable => (416, ct, enc, None),
                            range::RangeDecision::Full => (200, ct, enc, None),
                        },
                        _ => (200, ct, enc, None),
                    },
                }
            }
        },
    };
    let mut w = HeadWriter::new(out, status);
    w.header_date(b"Date", NOW)
        .header(b"Server", b"mote")
        .header(b"Content-Type", ctype);
    if let Some(e) = enc {
        w.header(b"Content-Encoding", e.token());
    }
    if let Some((s, e)) = cr {
        w.content_range(s, e, FILE_LEN)
            .header_u64(b"Content-Length", e - s + 1);
    } else {
        w.header_u64(b"Content-Length", FILE_LEN);
    }
    w.header(b"ETag", FILE_ETAG)
        .header_date(b"Last-Modified", FILE_MTIME);
    w.finish().unwrap_or(0)
}

#[cfg(target_arch = "wasm32")]
mod wasm {
    //! The browser build: JavaScript writes a request into `mote_in`, calls
    //! `mote_handle(len)` and reads the head back from `mote_out`.
    static mut IN: [u8; 4096] = [0; 4096];
    static mut OUT: [u8; 1024] = [0; 1024];

    #[no_mangle]
    pub extern "C" fn mote_in() -> *mut u8 {
        // Only the address is taken: no reference to the static is created.
        core::ptr::addr_of_mut!(IN) as *mut u8
    }
    #[no_mangle]
    pub extern "C" fn mote_out() -> *const u8 {
        // Only the address is taken, as above.
        core::ptr::addr_of!(OUT) as *const u8
    }
    #[no_mangle]
    pub extern "C" fn mote_handle(len: usize) -> usize {
        // SAFETY: single-threaded; the two buffers are distinct statics and no other
        // reference to them is live during this call.
        let (input, out) = unsafe {
            (
                &*core::ptr::addr_of!(IN),
                &mut *core::ptr::addr_of_mut!(OUT),
            )
        };
        super::handle(input.get(..len).unwrap_or(&[]), out)
    }

    #[panic_handler]
    fn panic(_: &core::panic::PanicInfo) -> ! {
        core::arch::wasm32::unreachable()
    }
}
