//! A value read from a probe file together with where it was written, so a
//! later complaint about it can point at its line and column.

use serde_saphyr::Spanned;

use crate::syntax::error::Pos;

pub type S<T> = Spanned<T>;

/// Where `s` was written.
pub fn pos_of<T>(s: &S<T>) -> Pos {
    Pos::from_loc(&s.referenced)
}
