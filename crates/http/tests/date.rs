//! HTTP date formatting and the three parse formats of RFC 9110 5.6.7.

use mote_http::date::{self, IMF_LEN, MAX_UNIX};

fn fmt(unix: u64) -> String {
    let mut out = [0u8; IMF_LEN];
    date::format(unix, &mut out);
    String::from_utf8(out.to_vec()).unwrap()
}

#[test]
fn formats_known_dates() {
    assert_eq!(fmt(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    assert_eq!(fmt(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
    assert_eq!(fmt(951782400), "Tue, 29 Feb 2000 00:00:00 GMT"); // leap year by 400
    assert_eq!(fmt(4107542399), "Sun, 28 Feb 2100 23:59:59 GMT"); // 2100 is not leap
    assert_eq!(fmt(4107542400), "Mon, 01 Mar 2100 00:00:00 GMT");
    assert_eq!(fmt(1_700_000_000), "Tue, 14 Nov 2023 22:13:20 GMT");
    assert_eq!(fmt(MAX_UNIX), "Fri, 31 Dec 9999 23:59:59 GMT");
    assert_eq!(fmt(u64::MAX), "Fri, 31 Dec 9999 23:59:59 GMT");
}

#[test]
fn parses_all_three_formats() {
    for s in [
        &b"Sun, 06 Nov 1994 08:49:37 GMT"[..],
        b"Sunday, 06-Nov-94 08:49:37 GMT",
        b"Sun Nov  6 08:49:37 1994",
    ] {
        assert_eq!(
            date::parse(s),
            Some(784111777),
            "{:?}",
            String::from_utf8_lossy(s)
        );
    }
    assert_eq!(date::parse(b"Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
    assert_eq!(
        date::parse(b"Fri, 31 Dec 9999 23:59:59 GMT"),
        Some(MAX_UNIX)
    );
    assert_eq!(date::parse(b"Tue Feb 29 12:00:00 2000"), Some(951825600));
    assert_eq!(
        date::parse(b"Wed Nov 16 08:49:37 1994"),
        Some(784111777 + 10 * 86400)
    );
    // RFC 850 two-digit years: 70-99 -> 19xx, 00-69 -> 20xx.
    assert_eq!(date::parse(b"Thursday, 01-Jan-70 00:00:00 GMT"), Some(0));
    assert_eq!(
        date::parse(b"Saturday, 01-Jan-00 00:00:00 GMT"),
        Some(946684800)
    );
    assert_eq!(
        date::parse(b"Tuesday, 14-Nov-23 22:13:20 GMT"),
        Some(1_700_000_000)
    );
    // A leap second is syntactically valid; it lands on the next second.
    assert_eq!(
        date::parse(b"Sat, 31 Dec 2016 23:59:60 GMT"),
        Some(1483228800)
    );
}

#[test]
fn rejects_invalid_dates() {
    let bad: &[&[u8]] = &[
        b"",
        b"Sun, 06 Nov 1994 08:49:37 UTC",
        b"Sun, 06 Nov 1994 08:49:37 gmt",
        b"sun, 06 Nov 1994 08:49:37 GMT", // day names are case-sensitive
        b"Sun, 06 nov 1994 08:49:37 GMT", // so are months
        b"Xyz, 06 Nov 1994 08:49:37 GMT",
        b"Sun, 06 Nox 1994 08:49:37 GMT",
        b"Sun, 6 Nov 1994 08:49:37 GMT",
        b"Sun, 06 Nov 94 08:49:37 GMT",
        b"Sun,  06 Nov 1994 08:49:37 GMT",
        b"Sun, 06 Nov 1994 08:49:37 GMT ",
        b" Sun, 06 Nov 1994 08:49:37 GMT",
        b"Sun, 06 Nov 1994 8:49:37 GMT",
        b"Sun, 06 Nov 1994 08-49-37 GMT",
        b"Sun, 00 Nov 1994 08:49:37 GMT",
        b"Sun, 31 Nov 1994 08:49:37 GMT",
        b"Sun, 29 Feb 1900 08:49:37 GMT", // 1900 is not leap
        b"Sun, 30 Feb 2000 08:49:37 GMT",
        b"Sun, 06 Nov 1994 24:00:00 GMT",
        b"Sun, 06 Nov 1994 23:60:00 GMT",
        b"Sun, 06 Nov 1994 23:59:61 GMT",
        b"Sun, 06 Nov 1969 08:49:37 GMT", // before the epoch
        b"Sun, 06 Nov 19x4 08:49:37 GMT",
        b"Sun, 06 Nov 1994 08:49:3 GMT",
        b"Sunday, 06-Nov-94 08:49:37 UTC",
        b"Sundae, 06-Nov-94 08:49:37 GMT",
        b"Sun, 06-Nov-94 08:49:37 GMT",
        b"Sunday, 06-Nov-1994 08:49:37 GMT",
        b"Sunday, 6-Nov-94 08:49:37 GMT",
        b"Sun Nov 6 08:49:37 1994",
        b"Sun Nov  6 08:49:37 94",
        b"Sun Nov 06 08:49:37 1994 ",
        b"Sun Nov  0 08:49:37 1994",
        b"1994-11-06T08:49:37Z",
        b"784111777",
        b",",
    ];
    for s in bad {
        assert_eq!(date::parse(s), None, "{:?}", String::from_utf8_lossy(s));
    }
    // Two-digit asctime days are allowed too.
    assert_eq!(date::parse(b"Sun Nov 06 08:49:37 1994"), Some(784111777));
}

#[test]
fn round_trips_every_day_boundary_sample() {
    // Every day from 1970 to 2100 at a varying time of day.
    for day in 0..47_482u64 {
        let t = day * 86_400 + (day * 7919) % 86_400;
        let mut out = [0u8; IMF_LEN];
        date::format(t, &mut out);
        assert_eq!(
            date::parse(&out),
            Some(t),
            "{}",
            String::from_utf8_lossy(&out)
        );
    }
}
