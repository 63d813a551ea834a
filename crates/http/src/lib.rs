//! mote-http: the sans-I/O HTTP/1.1 core of mote.
#![no_std]
#![forbid(unsafe_code)]
