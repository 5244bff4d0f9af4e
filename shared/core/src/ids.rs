//! The rules every identifier obeys, wherever it comes from (a request body, a path,
//! a visitor token): limits in bytes (what the stores pay for), no control or
//! invisible format characters, no surrounding whitespace.

/// Session ids: 1..=128 bytes of `A-Z a-z 0-9 . _ : -`.
pub const MAX_SESSION_ID_BYTES: usize = 128;
/// Item ids: 1..=256 bytes of UTF-8.
pub const MAX_ITEM_ID_BYTES: usize = 256;
/// Customer ids: 1..=128 bytes of UTF-8.
pub const MAX_CUSTOMER_ID_BYTES: usize = 128;
/// A recommendation id: 32 lowercase hexadecimal digits.
pub const RECOMMENDATION_ID_LEN: usize = 32;

/// Why an identifier was refused, in words that follow the field's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("must be 1..={max} bytes of UTF-8")]
    Length { max: usize },
    #[error("may hold only letters, digits and . _ : -")]
    Charset,
    #[error("must not hold control characters or surrounding whitespace")]
    Control,
    #[error("must not hold invisible formatting characters (U+{0:04X})")]
    Format(u32),
    #[error("must be {RECOMMENDATION_ID_LEN} lowercase hexadecimal digits (a response's recommendation_id)")]
    RecommendationId,
    #[error("must be 1..=128 bytes of letters, digits and - _ . (a response's model_version)")]
    ModelVersion,
    #[error("must be one of hybrid, session, features-only, popular, similar")]
    Strategy,
}

/// A session id (path segment and token `sid`).
pub fn session_id(id: &str) -> Result<(), IdError> {
    if id.is_empty() || id.len() > MAX_SESSION_ID_BYTES {
        return Err(IdError::Length {
            max: MAX_SESSION_ID_BYTES,
        });
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
    {
        return Err(IdError::Charset);
    }
    Ok(())
}

/// An item id.
pub fn item_id(id: &str) -> Result<(), IdError> {
    text_id(id, MAX_ITEM_ID_BYTES)
}

/// A customer id (body `customer_id` and token `cid` alike).
pub fn customer_id(id: &str) -> Result<(), IdError> {
    text_id(id, MAX_CUSTOMER_ID_BYTES)
}

/// Free-text ids: bounded in bytes, printable, trimmed, no format characters (bidi
/// overrides and zero-width characters make two ids look alike).
pub fn text_id(id: &str, max_bytes: usize) -> Result<(), IdError> {
    if id.is_empty() || id.len() > max_bytes {
        return Err(IdError::Length { max: max_bytes });
    }
    if id.chars().any(char::is_control) || id.trim() != id {
        return Err(IdError::Control);
    }
    if let Some(c) = id.chars().find(|&c| is_format(c)) {
        return Err(IdError::Format(u32::from(c)));
    }
    Ok(())
}

/// Unicode general category Cf (format characters), Unicode 15.
pub fn is_format(c: char) -> bool {
    matches!(u32::from(c),
        0x00AD
        | 0x0600..=0x0605
        | 0x061C
        | 0x06DD
        | 0x070F
        | 0x0890..=0x0891
        | 0x08E2
        | 0x180E
        | 0x200B..=0x200F
        | 0x202A..=0x202E
        | 0x2060..=0x2064
        | 0x2066..=0x206F
        | 0xFEFF
        | 0xFFF9..=0xFFFB
        | 0x110BD
        | 0x110CD
        | 0x13430..=0x1343F
        | 0x1BCA0..=0x1BCA3
        | 0x1D173..=0x1D17A
        | 0xE0001
        | 0xE0020..=0xE007F)
}

/// Checks a recommendation id: exactly 32 lowercase hexadecimal digits, as the
/// recommendation routes issue them.
pub fn recommendation_id(id: &str) -> Result<(), IdError> {
    if id.len() == RECOMMENDATION_ID_LEN
        && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        Ok(())
    } else {
        Err(IdError::RecommendationId)
    }
}

/// A model version as the pipeline names them (timestamp and hash): 1..=128 bytes of
/// ASCII letters, digits, `-`, `_`, `.`, not starting with `.` (safe inside keys).
pub fn model_version(version: &str) -> Result<(), IdError> {
    let ok = !version.is_empty()
        && version.len() <= 128
        && !version.starts_with('.')
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(IdError::ModelVersion)
    }
}

/// The strategies a recommendation response names.
pub const STRATEGIES: [&str; 5] = ["hybrid", "session", "features-only", "popular", "similar"];

/// A strategy as a recommendation response names it.
pub fn strategy(name: &str) -> Result<(), IdError> {
    if STRATEGIES.contains(&name) {
        Ok(())
    } else {
        Err(IdError::Strategy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_strategy_error_names_every_strategy() {
        assert_eq!(
            IdError::Strategy.to_string(),
            format!("must be one of {}", STRATEGIES.join(", "))
        );
        assert_eq!(strategy("popular"), Ok(()));
        assert_eq!(strategy("random"), Err(IdError::Strategy));
    }

    #[test]
    fn limits_are_bytes_not_characters() {
        // U+1F600 is four bytes in UTF-8.
        assert_eq!(item_id(&"\u{1F600}".repeat(64)), Ok(()));
        assert_eq!(
            item_id(&"\u{1F600}".repeat(65)),
            Err(IdError::Length { max: 256 })
        );
        assert_eq!(customer_id(&"\u{1F600}".repeat(32)), Ok(()));
        assert!(customer_id(&"\u{1F600}".repeat(33)).is_err());
    }

    #[test]
    fn invisible_and_control_characters_are_refused() {
        assert_eq!(item_id("sku\u{202E}1"), Err(IdError::Format(0x202E)));
        assert_eq!(item_id("sku\u{200B}1"), Err(IdError::Format(0x200B)));
        assert_eq!(customer_id("\u{FEFF}c-1"), Err(IdError::Format(0xFEFF)));
        assert_eq!(item_id("a\nb"), Err(IdError::Control));
        assert_eq!(item_id(" a"), Err(IdError::Control));
        assert_eq!(item_id(""), Err(IdError::Length { max: 256 }));
        assert_eq!(item_id("Größe-42 日本"), Ok(()));
    }

    #[test]
    fn session_ids_are_checked() {
        assert!(session_id("abc-123_x:y.z").is_ok());
        assert!(session_id("").is_err());
        assert_eq!(session_id("a b"), Err(IdError::Charset));
        assert!(session_id(&"x".repeat(129)).is_err());
    }
}
