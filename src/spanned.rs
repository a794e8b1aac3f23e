//! [`S<T>`]: a value read from a probe file together with where it was read
//! (serde-saphyr's `Spanned<T>`, whose fields it keeps), as our own type so
//! that it can describe itself in the JSON Schema: its schema is the schema
//! of `T` (the position is not part of the file's format).

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer};
use serde_saphyr::{Location, Spanned};

use crate::syntax::error::Pos;

/// A value and its position: `referenced` is where the value is used (an
/// alias), `defined` where it was written (the anchor, or the same place).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct S<T> {
    pub value: T,
    pub referenced: Location,
    pub defined: Location,
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for S<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Spanned {
            value,
            referenced,
            defined,
        } = Spanned::<T>::deserialize(d)?;
        Ok(S {
            value,
            referenced,
            defined,
        })
    }
}

/// Where `s` was written.
pub fn pos_of<T>(s: &S<T>) -> Pos {
    Pos::from_loc(&s.referenced)
}

/// Transparent: exactly `T`'s schema, under `T`'s name.
impl<T: JsonSchema> JsonSchema for S<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }
    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_position_and_describes_itself_as_the_value() {
        #[derive(Deserialize)]
        struct Doc {
            a: S<u32>,
        }
        let doc: Doc = serde_saphyr::from_str("\n  a: 7\n").unwrap();
        assert_eq!(doc.a.value, 7);
        assert_eq!(doc.a.referenced.line(), 2);
        assert_eq!(doc.a.defined.line(), 2);
        assert_eq!(schemars::schema_for!(S<u32>), schemars::schema_for!(u32));
    }
}
