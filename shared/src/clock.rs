//! Time as records and events store it.

use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

/// RFC 3339, UTC, always three fractional digits: fixed width, so it sorts as text, as
/// event keys need.
const STORED: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

pub fn now() -> String {
    format_utc(time::OffsetDateTime::now_utc())
}

/// `t` (taken as UTC) as stored.
pub fn format_utc(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    // Formatting a four-digit year with this description cannot fail; the fallback keeps
    // the path panic-free all the same.
    t.format(STORED)
        .unwrap_or_else(|_| format!("{}", t.unix_timestamp()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_time_is_rfc3339_utc_with_milliseconds() {
        let t = time::macros::datetime!(2026-03-04 05:06:07.89 UTC);
        assert_eq!(format_utc(t), "2026-03-04T05:06:07.890Z");
        let t = time::macros::datetime!(2026-03-04 06:06:07.001 +01:00);
        assert_eq!(format_utc(t), "2026-03-04T05:06:07.001Z");
        assert_eq!(now().len(), "2026-03-04T05:06:07.890Z".len());
    }
}
