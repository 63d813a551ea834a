//! HTTP dates (RFC 9110 5.6.7): IMF-fixdate out, all three formats in.
//!
//! Pure integer calendar arithmetic, so it
//! runs unchanged on targets without floating point or a clock.

use crate::util::{find, word_index};

/// Length of an IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub const IMF_LEN: usize = 29;

/// Latest representable time, 9999-12-31T23:59:59Z: HTTP dates have a
/// four-digit year, so [`format`] clamps to this.
pub const MAX_UNIX: u64 = 253_402_300_799;

const SECS_PER_DAY: u64 = 86_400;
/// Names as space-separated words, so that parsing can look them up with
/// the shared `word_index` (and formatting finds name `i` at `4 * i`).
const DAY_NAMES: &[u8] = b"Thu Fri Sat Sun Mon Tue Wed"; // 1970-01-01 was a Thursday
const MONTHS: &[u8] = b"Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec";

/// Days from 1970-01-01 to January 1st of `year` (1970..=10000).
///
/// The calendar is done with this closed form and short loops rather than
/// Hinnant's era arithmetic: the loops run at most a few dozen times, and the
/// code is a fraction of the size (each division by a constant is a
/// multiply-and-shift sequence). Out of line: it is used three times, and its
/// three divisions are not small.
#[inline(never)]
fn year_start(year: u32) -> u32 {
    let leaps = |y: u32| y / 4 - y / 100 + y / 400; // leap years in 1..=y
    365 * (year - 1970) + leaps(year - 1) - leaps(1969)
}

fn put3(out: &mut [u8], at: usize, table: &[u8], index: u32) {
    let i = index as usize * 4;
    if let (Some(dst), Some(src)) = (out.get_mut(at..at + 3), table.get(i..i + 3)) {
        dst.iter_mut().zip(src).for_each(|(d, s)| *d = *s);
    }
}

/// Writes `unix` (seconds since the epoch, UTC) as an IMF-fixdate. Times after
/// [`MAX_UNIX`] are written as `MAX_UNIX`.
pub fn format(unix: u64, out: &mut [u8; IMF_LEN]) {
    let unix = unix.min(MAX_UNIX);
    // 86400 = 128 * 675 and MAX_UNIX < 2^38, so `unix >> 7` fits in a u32 and
    // the day count needs only a 32-bit division (a 64-bit one is a ~1 KiB
    // library call on 32-bit targets).
    let days = ((unix >> 7) as u32) / 675;
    let secs = (unix - days as u64 * SECS_PER_DAY) as u32;
    // A year has at most 366 days, so this starts at or before the right
    // year, and at most ~20 years before it.
    let mut year = 1970 + days / 366;
    while year_start(year + 1) <= days {
        year += 1;
    }
    let mut rest = days - year_start(year);
    let mut month = 1;
    while rest >= days_in_month(year, month) {
        rest -= days_in_month(year, month);
        month += 1;
    }
    // Every '@' and digit of the template is overwritten below; reusing the
    // parser's template saves a second 29-byte string. The digits are written from
    // the right by one loop: each template digit names its field (see the template).
    *out = *IMF_TEMPLATE;
    put3(out, 0, DAY_NAMES, days % 7);
    put3(out, 8, MONTHS, month - 1);
    let mut f = [rest + 1, year, secs / 3600, secs / 60 % 60, secs % 60];
    for (o, &t) in out.iter_mut().zip(IMF_TEMPLATE).rev() {
        if let Some(v) = f.get_mut(t.wrapping_sub(b'0') as usize) {
            *o = b'0' + (*v % 10) as u8;
            *v /= 10;
        }
    }
}

/// Layout of an IMF-fixdate: `@` is a letter, `0`-`4` a digit of field 0 (day), 1
/// (year), 2 (hour), 3 (minute) or 4 (second), other bytes stand for themselves.
const IMF_TEMPLATE: &[u8; IMF_LEN] = b"@@@, 00 @@@ 1111 22:33:44 GMT";
/// Layout of an asctime date; `5` is a digit or SP of the day (`SP DIGIT` or `2DIGIT`).
const ASCTIME_TEMPLATE: &[u8; 24] = b"@@@ @@@ 50 22:33:44 1111";
/// Layout of an RFC 850 date from the last three letters of the full day name.
const RFC850_TEMPLATE: &[u8; 27] = b"@@@, 00-@@@-11 22:33:44 GMT";

/// Parses an HTTP date in any of the three formats of RFC 9110 5.6.7:
/// `Sun, 06 Nov 1994 08:49:37 GMT` (IMF-fixdate), `Sunday, 06-Nov-94 08:49:37
/// GMT` (RFC 850) and `Sun Nov  6 08:49:37 1994` (asctime).
///
/// Returns `None` for anything else, for out-of-range fields (month 13, Feb
/// 30, hour 24), and for times before 1970 (not representable as u64; every
/// caller treats an unparseable date as absent). Day and month names are
/// case-sensitive. The day name must be a valid name but is not checked against
/// the date. RFC 850 two-digit years 70-99 are 19xx and 00-69 are 20xx (RFC
/// 9110 asks for "within 50 years" of now, which a clock-less library cannot
/// know; all such dates in the wild are old).
pub fn parse(s: &[u8]) -> Option<u64> {
    // The format follows from the first comma. `t` is the text the fields are
    // read from: for RFC 850 it starts 3 letters before the comma, which lines
    // its fields up with IMF-fixdate's. Then the layout of `t` and the offset of
    // the month name.
    let (t, layout, mon) = match find(s, b',') {
        None => (s, &ASCTIME_TEMPLATE[..], 4),
        Some(3) => (s, &IMF_TEMPLATE[..], 8),
        Some(comma) => {
            // The long name must be one of the seven (its first three letters
            // are then a short name, checked below like the other formats').
            word_index(LONG_DAY_NAMES, b' ', s.get(..comma)?, false)?;
            (s.get(comma.saturating_sub(3)..)?, &RFC850_TEMPLATE[..], 8)
        }
    };
    if t.len() != layout.len() {
        return None;
    }
    // One pass checks the layout and reads the numbers into their fields, the same
    // for the three formats (size trade: no per-field offsets and reads).
    let mut f = [0u32; 5];
    for (&c, &l) in t.iter().zip(layout) {
        let field = l.wrapping_sub(b'0');
        let ok = if field < 6 {
            f[field as usize % 5] = f[field as usize % 5] * 10 + (c & 0x0f) as u32;
            c.is_ascii_digit() || (field == 5 && c == b' ')
        } else if l == b'@' {
            c.is_ascii_alphabetic()
        } else {
            c == l
        };
        if !ok {
            return None;
        }
    }
    let [day, mut year, hour, min, sec] = f;
    if layout.len() == RFC850_TEMPLATE.len() {
        year += if year >= 70 { 1900 } else { 2000 };
    }
    word_index(DAY_NAMES, b' ', s.get(..3)?, false)?;
    let month = word_index(MONTHS, b' ', t.get(mon..mon + 3)?, false)? as u32 + 1;
    // second = 60 is allowed by the grammar for leap seconds. Years before
    // 1970 are before the epoch: not representable.
    if year < 1970
        || hour > 23
        || min > 59
        || sec > 60
        || day == 0
        || day > days_in_month(year, month)
    {
        return None;
    }
    let mut days = year_start(year) + day - 1;
    for m in 1..month {
        days += days_in_month(year, m);
    }
    Some(days as u64 * SECS_PER_DAY + (hour * 3600 + min * 60 + sec) as u64)
}

/// Full day names of RFC 850 dates.
const LONG_DAY_NAMES: &[u8] = b"Monday Tuesday Wednesday Thursday Friday Saturday Sunday";

/// Size trade: arithmetic instead of a match, and the leap rule taken from `year_start`
/// (out of line already) rather than spelled out again with three more divisions.
fn days_in_month(year: u32, month: u32) -> u32 {
    if month == 2 {
        // A leap year is one whose next year starts 366 days later.
        year_start(year + 1) - year_start(year) - 337
    } else {
        // 31 for odd months up to July and even ones from August on.
        30 + ((month ^ month >> 3) & 1)
    }
}
