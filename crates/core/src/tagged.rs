//! Internally tagged enums (`{"cmd":"prepare","tx":…}`) decoded in one pass.
//!
//! serde's derived decoder for an internally tagged enum cannot know the variant until it has
//! seen the tag, so it first copies every field into a buffer of its own and then decodes that
//! buffer: twice the work and an allocation per field, on every frame a node reads. When the
//! tag comes first — as it does in everything serde writes, and in what people type — the
//! variant is known before any field, and the rest of the object can be decoded straight into
//! it. [`tagged_enum!`] declares such an enum once and derives, besides serde's usual encoder
//! and decoder, an externally tagged twin; [`TagFirst`] decodes the enum through the twin.
//! JSON objects are unordered, so `TagFirst` is a fast path only: on an object whose tag is not
//! first it fails, and the caller decodes again with serde's decoder, which takes any order.

use core::fmt;
use core::marker::PhantomData;

use serde::de::{self, DeserializeSeed, EnumAccess, IgnoredAny, MapAccess, VariantAccess, Visitor};
use serde::forward_to_deserialize_any;

/// An internally tagged enum decoded in one pass from an object whose first field is the tag;
/// any other object is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagFirst<T>(pub T);

/// Decodes the internally tagged `T` from a map whose first key is `tag`, through `Twin`, the
/// externally tagged enum with the same variants.
#[doc(hidden)]
pub fn decode<'de, D, Twin, T>(deserializer: D, tag: &'static str) -> Result<TagFirst<T>, D::Error>
where
    D: de::Deserializer<'de>,
    Twin: de::Deserialize<'de> + Into<T>,
{
    let twin = deserializer.deserialize_map(TagFirstVisitor { tag, twin: PhantomData::<Twin> })?;
    Ok(TagFirst(twin.into()))
}

struct TagFirstVisitor<Twin> {
    tag: &'static str,
    twin: PhantomData<Twin>,
}

impl<'de, Twin: de::Deserialize<'de>> Visitor<'de> for TagFirstVisitor<Twin> {
    type Value = Twin;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an object whose first field is `{}`", self.tag)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Twin, A::Error> {
        match map.next_key_seed(KeyIs(self.tag))? {
            Some(true) => Twin::deserialize(Rest(map)),
            Some(false) => Err(de::Error::custom(format_args!("`{}` is not the first field", self.tag))),
            None => Err(de::Error::missing_field(self.tag)),
        }
    }
}

/// Reads a key and says whether it is the expected one, without keeping it.
struct KeyIs(&'static str);

impl<'de> DeserializeSeed<'de> for KeyIs {
    type Value = bool;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_identifier(self)
    }
}

impl Visitor<'_> for KeyIs {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<bool, E> {
        Ok(key == self.0)
    }
}

/// The rest of the object, after the tag: the twin's decoder sees it as an enum whose variant
/// name is the tag's value and whose fields are the remaining entries.
struct Rest<A>(A);

impl<'de, A: MapAccess<'de>> de::Deserializer<'de> for Rest<A> {
    type Error = A::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        visitor.visit_enum(self)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option
        unit unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

impl<'de, A: MapAccess<'de>> EnumAccess<'de> for Rest<A> {
    type Error = A::Error;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(mut self, seed: V) -> Result<(V::Value, Self), A::Error> {
        // The tag's value names the variant.
        let variant = self.0.next_value_seed(seed)?;
        Ok((variant, self))
    }
}

impl<'de, A: MapAccess<'de>> VariantAccess<'de> for Rest<A> {
    type Error = A::Error;

    fn unit_variant(mut self) -> Result<(), A::Error> {
        // Like serde's own decoder, a unit variant ignores any further fields.
        while self.0.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, _: T) -> Result<T::Value, A::Error> {
        Err(de::Error::custom("tagged enums have no newtype variants"))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value, A::Error> {
        Err(de::Error::custom("tagged enums have no tuple variants"))
    }

    fn struct_variant<V: Visitor<'de>>(self, _: &'static [&'static str], visitor: V) -> Result<V::Value, A::Error> {
        visitor.visit_map(self.0)
    }
}

/// An internally tagged enum declared with [`tagged_enum!`]: its tag and its externally tagged
/// twin, which [`TagFirst`] and [`from_json_value`] decode through.
pub trait Tagged: Sized {
    /// The field that names the variant.
    const TAG: &'static str;
    /// The same variants, externally tagged.
    type Twin: de::DeserializeOwned + Into<Self>;
}

impl<'de, T: Tagged> de::Deserialize<'de> for TagFirst<T> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        decode::<D, T::Twin, T>(deserializer, T::TAG)
    }
}

/// Decodes a tagged enum out of a JSON value without serde's buffering: the tag is taken out
/// of the object first and the rest decoded straight into its variant, through the twin. What
/// the browser page uses, so its wasm holds one small decoder per enum.
pub fn from_json_value<T: Tagged>(mut value: serde_json::Value) -> Result<T, serde_json::Error> {
    use serde::de::Error as _;
    let tag = match value.as_object_mut().map(|fields| fields.remove(T::TAG)) {
        Some(Some(serde_json::Value::String(tag))) => tag,
        Some(Some(_)) => return Err(serde_json::Error::custom(format_args!("`{}` is not a string", T::TAG))),
        Some(None) => return Err(serde_json::Error::missing_field(T::TAG)),
        None => return Err(serde_json::Error::custom("not an object")),
    };
    // A unit variant is written as its name alone.
    let unit = value.as_object().is_some_and(|rest| rest.is_empty());
    let mut outer = serde_json::Map::new();
    outer.insert(tag.clone(), value);
    match serde_json::from_value::<T::Twin>(serde_json::Value::Object(outer)) {
        Err(_) if unit => serde_json::from_value::<T::Twin>(serde_json::Value::String(tag)).map(Into::into),
        decoded => decoded.map(Into::into),
    }
}

/// Declares an enum internally tagged by `$tag` (variants `snake_case` unless renamed) with
/// serde's encoder, an externally tagged twin named `$twin` (see the module docs) and
/// [`Tagged`], so that [`TagFirst`] and [`from_json_value`] decode it in one pass. The variants
/// are written once. Its serde decoder is serde's own, which takes the fields in any order;
/// with `decoded_from_value` it is [`from_json_value`] instead, so that an enum nested in
/// another one is decoded without serde's buffer too.
#[macro_export]
macro_rules! tagged_enum {
    (
        $(#[doc = $doc:literal])*
        #[tag = $tag:literal, twin = $twin:ident, decoded_from_value]
        $vis:vis enum $name:ident { $($body:tt)* }
    ) => {
        $crate::tagged_enum! { @declare [] $(#[doc = $doc])* #[tag = $tag, twin = $twin] $vis enum $name { $($body)* } }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = <serde_json::Value as serde::Deserialize>::deserialize(deserializer)?;
                $name::from_json_value(value).map_err(serde::de::Error::custom)
            }
        }
    };
    (
        $(#[doc = $doc:literal])*
        #[tag = $tag:literal, twin = $twin:ident]
        $vis:vis enum $name:ident { $($body:tt)* }
    ) => {
        $crate::tagged_enum! { @declare [serde::Deserialize] $(#[doc = $doc])* #[tag = $tag, twin = $twin] $vis enum $name { $($body)* } }
    };
    (
        @declare [$($decoder:path)?]
        $(#[doc = $doc:literal])*
        #[tag = $tag:literal, twin = $twin:ident]
        $vis:vis enum $name:ident {
            $(
                $(#[$vmeta:meta])*
                $variant:ident $({
                    $( $(#[$fmeta:meta])* $field:ident : $ty:ty ),* $(,)?
                })?
            ),* $(,)?
        }
    ) => {
        $(#[doc = $doc])*
        #[derive(Clone, Debug, PartialEq, Eq, serde::Serialize $(, $decoder)?)]
        #[serde(tag = $tag, rename_all = "snake_case")]
        $vis enum $name {
            $( $(#[$vmeta])* $variant $({ $( $(#[$fmeta])* $field: $ty ),* })? ),*
        }

        /// The same variants, externally tagged: what the tag-first decoder fills in. A
        /// variant a target never decodes (`skip_deserializing`) is never built there.
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        #[doc(hidden)]
        #[serde(rename_all = "snake_case")]
        $vis enum $twin {
            $( $(#[$vmeta])* $variant $({ $( $(#[$fmeta])* $field: $ty ),* })? ),*
        }

        impl From<$twin> for $name {
            fn from(twin: $twin) -> $name {
                match twin {
                    $( $twin::$variant $({ $($field),* })? => $name::$variant $({ $($field),* })? ),*
                }
            }
        }

        impl $crate::tagged::Tagged for $name {
            const TAG: &'static str = $tag;
            type Twin = $twin;
        }

        impl $name {
            /// Decodes the enum out of a JSON value through its twin (see
            /// [`from_json_value`](ringside_core::tagged::from_json_value)).
            $vis fn from_json_value(value: serde_json::Value) -> Result<$name, serde_json::Error> {
                $crate::tagged::from_json_value(value)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::TagFirst;

    tagged_enum! {
        /// A probe with a unit variant, which `Msg` lacks.
        #[tag = "kind", twin = ShapeTwin]
        pub(super) enum Shape {
            /// No fields.
            Dot,
            /// One field.
            Line {
                /// Its length.
                len: u32,
            },
        }
    }

    #[test]
    fn a_unit_variant_ignores_further_fields_as_serde_does() {
        let text = r#"{"kind":"dot","note":[1,{"a":2}]}"#;
        assert_eq!(serde_json::from_str::<TagFirst<Shape>>(text).unwrap().0, Shape::Dot);
        assert_eq!(serde_json::from_str::<Shape>(text).unwrap(), Shape::Dot);
        let line = serde_json::from_str::<TagFirst<Shape>>(r#"{"kind":"line","len":3}"#).unwrap();
        assert_eq!(line.0, Shape::Line { len: 3 });
    }

    #[test]
    fn a_value_decodes_in_any_field_order_and_says_what_is_wrong() {
        use alloc::string::ToString;
        assert_eq!(Shape::from_json_value(serde_json::json!({"kind": "dot"})).unwrap(), Shape::Dot);
        let value = serde_json::json!({"len": 3, "kind": "line"});
        assert_eq!(Shape::from_json_value(value).unwrap(), Shape::Line { len: 3 });
        let missing = Shape::from_json_value(serde_json::json!({"len": 3})).unwrap_err().to_string();
        assert_eq!(missing, "missing field `kind`");
        let unknown = Shape::from_json_value(serde_json::json!({"kind": "arc"})).unwrap_err().to_string();
        assert!(unknown.starts_with("unknown variant `arc`"), "{unknown}");
    }
}
