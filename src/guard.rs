//! Panics turned into errors at the few places where one bad input must not stop the
//! stream: a mapper on a raw body, a stage's processor on a record, a timer sweep on a
//! package. Release builds unwind (see `Cargo.toml`), so these catch there too.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Runs `f`; a panic comes back as its message.
///
/// Callers vouch for unwind safety: what `f` may leave half-written is either pure (a
/// mapper) or thrown away and rebuilt after the panic (a stage's state is restored from
/// its changelog by the rewind that follows).
pub fn catch_panic<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| message(payload.as_ref()))
}

/// The text a panic was raised with (`panic!("...")` gives a `&str` or a `String`).
fn message(payload: &(dyn Any + Send)) -> String {
    match payload.downcast_ref::<&str>() {
        Some(text) => (*text).to_owned(),
        None => payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_else(|| "(no message)".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::catch_panic;

    #[test]
    fn a_value_passes_and_a_panic_becomes_its_message() {
        assert_eq!(catch_panic(|| 7), Ok(7));
        assert_eq!(
            catch_panic(|| -> u8 { panic!("static text") }),
            Err("static text".to_owned())
        );
        let n = 3;
        assert_eq!(
            catch_panic(|| -> u8 { panic!("formatted {n}") }),
            Err("formatted 3".to_owned())
        );
        assert_eq!(
            catch_panic(|| -> u8 { std::panic::panic_any(42_u32) }),
            Err("(no message)".to_owned())
        );
    }
}
