//! Content types by file extension.
//!
//! The table is one static string of `ext ext:type` lines rather than an array of
//! slice pairs: that saves 16 bytes of pointers per entry on 64-bit targets,
//! which matters in a 20 KiB server. Lookups walk a length-prefixed copy of it
//! built at compile time ([`PACKED`]), one step per record (~60), comparing only
//! the extensions. The most requested types come first.

use crate::util::{split_once, sub, word_index};

/// The type for unknown extensions: RFC 9110 8.3 says a recipient may treat
/// data of unknown type as `application/octet-stream`, and browsers then
/// download instead of sniffing.
pub const DEFAULT: &[u8] = b"application/octet-stream";

/// Records `ext [ext...]:type` separated by `\n`; extensions sharing a type
/// share its string. Text formats carry
/// `charset=utf-8` (as do JSON, XML, SVG and JavaScript, whose servers
/// customarily say so), because a static server cannot know the encoding and
/// UTF-8 is what the web uses; without it browsers fall back to a legacy
/// charset for text/plain and text/css.
const TABLE: &str = concat!(
    "html htm:text/html; charset=utf-8\n",
    "css:text/css; charset=utf-8\n",
    "js mjs:text/javascript; charset=utf-8\n",
    "json map:application/json; charset=utf-8\n",
    "png:image/png\n",
    "jpg jpeg:image/jpeg\n",
    "svg:image/svg+xml; charset=utf-8\n",
    "webp:image/webp\n",
    "avif:image/avif\n",
    "gif:image/gif\n",
    "ico:image/x-icon\n",
    "woff2:font/woff2\n",
    "woff:font/woff\n",
    "ttf:font/ttf\n",
    "otf:font/otf\n",
    "eot:application/vnd.ms-fontobject\n",
    "wasm:application/wasm\n",
    "webmanifest:application/manifest+json; charset=utf-8\n",
    "txt wat:text/plain; charset=utf-8\n",
    "xml:application/xml; charset=utf-8\n",
    "xhtml:application/xhtml+xml; charset=utf-8\n",
    "csv:text/csv; charset=utf-8\n",
    "md:text/markdown; charset=utf-8\n",
    "jsonld:application/ld+json; charset=utf-8\n",
    "atom:application/atom+xml; charset=utf-8\n",
    "rss:application/rss+xml; charset=utf-8\n",
    "yaml yml:application/yaml; charset=utf-8\n",
    "toml:application/toml; charset=utf-8\n",
    "ics:text/calendar; charset=utf-8\n",
    "vcf:text/vcard; charset=utf-8\n",
    "vtt:text/vtt; charset=utf-8\n",
    "pdf:application/pdf\n",
    "apng:image/apng\n",
    "jxl:image/jxl\n",
    "bmp:image/bmp\n",
    "tif tiff:image/tiff\n",
    "heic:image/heic\n",
    "mp4:video/mp4\n",
    "webm:video/webm\n",
    "ogv:video/ogg\n",
    "mov:video/quicktime\n",
    "avi:video/x-msvideo\n",
    "mkv:video/x-matroska\n",
    "m3u8:application/vnd.apple.mpegurl\n",
    "mpd:application/dash+xml\n",
    "mp3:audio/mpeg\n",
    "ogg oga opus:audio/ogg\n",
    "wav:audio/wav\n",
    "flac:audio/flac\n",
    "m4a:audio/mp4\n",
    "aac:audio/aac\n",
    "zip:application/zip\n",
    "gz tgz:application/gzip\n",
    "tar:application/x-tar\n",
    "br:application/x-brotli\n",
    "zst:application/zstd\n",
    "xz:application/x-xz\n",
    "bz2:application/x-bzip2\n",
    "7z:application/x-7z-compressed\n",
    "rar:application/vnd.rar",
);

/// The Content-Type for the file at `path` (its extension after the last
/// `.` of the last segment, ASCII case-insensitive), or [`DEFAULT`]. A
/// dot-file like `.bashrc` has no extension.
pub fn from_path(path: &[u8]) -> &'static [u8] {
    // The last '.' after the last '/', unless it starts the name.
    let mut name = 0;
    let mut dot = 0;
    for (i, &b) in path.iter().enumerate() {
        if b == b'/' {
            name = i + 1;
        } else if b == b'.' {
            dot = i + 1;
        }
    }
    if dot <= name + 1 {
        return DEFAULT;
    }
    let ext = sub(path, dot, path.len());
    let mut i = 0;
    while let Some(&n) = PACKED.get(i) {
        let record = sub(&PACKED, i + 1, i + 1 + n as usize);
        i += 1 + n as usize;
        let (exts, ty) = split_once(record, b':');
        if word_index(exts, b' ', ext, true).is_some() {
            return ty;
        }
    }
    DEFAULT
}

/// [`TABLE`] with each record behind a byte holding its length (in place of the `\n`
/// before it), built at compile time: a lookup steps from record to record instead of
/// scanning every byte of the types for the next line end (a miss, the common case
/// for unlisted types, scanned all ~2 KiB per request). No bytes more than the table.
const PACKED: [u8; TABLE.len() + 1] = {
    let t = TABLE.as_bytes();
    let mut out = [0u8; TABLE.len() + 1];
    // Index in `out` of the current record's length byte.
    let mut start = 0;
    let mut i = 0;
    while i <= t.len() {
        if i == t.len() || t[i] == b'\n' {
            assert!(i - start < 256, "a MIME record is longer than 255 bytes");
            out[start] = (i - start) as u8;
            start = i + 1;
        } else {
            out[i + 1] = t[i];
        }
        i += 1;
    }
    out
};

/// Every `(extension, type)` pair of the table, in lookup order.
pub fn table() -> impl Iterator<Item = (&'static [u8], &'static [u8])> {
    TABLE.as_bytes().split(|&b| b == b'\n').flat_map(|record| {
        let mut parts = record.splitn(2, |&b| b == b':');
        let exts = parts.next().unwrap_or(&[]);
        let ty = parts.next().unwrap_or(&[]);
        exts.split(|&b| b == b' ').map(move |e| (e, ty))
    })
}
