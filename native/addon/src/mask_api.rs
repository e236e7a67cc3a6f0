//! `SecretMasker`, `maskInText`, `maskHeaderValue` and `headerNamesSecret` of the NativeCore
//! interface (src/gateway/native/native-core.ts): the masking of `sparkplane_wire::mask`, shaped
//! as src/gateway/proxy/secret-masker.ts is, so that the two can be held to the same bytes.
//!
//! Texts cross as latin1 strings, one character per octet, as the HPACK decoder hands header
//! fields over. The secret must be one too: the native masking takes its octets, and a character
//! above U+00FF has no octet (nor can a header carry it), so such a secret is refused rather than
//! cut to its low byte as `Buffer.from(secret, 'latin1')` would.

// napi-derive registers exports only outside test builds, where the functions then look unused.
#![cfg_attr(test, allow(dead_code))]

use napi::bindgen_prelude::{Buffer, BufferSlice};
use napi::{Env, Error, JsString};
use napi_derive::napi;
use sparkplane_wire::mask::{self, Masked};

type Result<T> = napi::Result<T, &'static str>;

/// Masks one call's response bytes as they pass, as createSecretMasker does.
#[napi]
pub struct SecretMasker {
    masker: mask::SecretMasker,
}

#[napi]
impl SecretMasker {
    #[napi(constructor)]
    pub fn new(secret: JsString) -> Result<Self> {
        Ok(SecretMasker {
            masker: mask::SecretMasker::new(&secret_octets(secret)?),
        })
    }

    /// The bytes safe to send now: `chunk` itself, masked in place, when nothing is held back
    /// before or after it; otherwise a new buffer (and `chunk` is masked only if nothing was held
    /// before it).
    #[napi]
    pub fn push<'env>(
        &mut self,
        env: &'env Env,
        mut chunk: BufferSlice<'env>,
    ) -> Result<BufferSlice<'env>> {
        match self.masker.push(&mut chunk) {
            Masked::InPlace => Ok(chunk),
            Masked::Replaced(bytes) => BufferSlice::copy_from(env, bytes).map_err(internal),
        }
    }

    #[napi(getter)]
    pub fn held_bytes(&self) -> u32 {
        // Less than the secret's length, which a JavaScript string bounds far below 2^32.
        self.masker.held_bytes() as u32
    }

    /// The bytes still held back, at the end of the stream.
    #[napi]
    pub fn flush(&mut self) -> Buffer {
        self.masker.flush().into()
    }
}

/// `text` with the secret masked (the same string when it holds none).
#[napi]
pub fn mask_in_text<'env>(
    env: &'env Env,
    text: JsString<'env>,
    secret: JsString,
) -> Result<JsString<'env>> {
    let secret = secret_octets(secret)?;
    let masked = mask::mask_in_text(latin1(text)?.as_slice(), &secret);
    same_or_new(env, text, masked)
}

/// A response header's value with the secret masked (the same string when it holds none).
#[napi]
pub fn mask_header_value<'env>(
    env: &'env Env,
    name: JsString,
    value: JsString<'env>,
    secret: JsString,
) -> Result<JsString<'env>> {
    let secret = secret_octets(secret)?;
    let masked =
        mask::mask_header_value(latin1(name)?.as_slice(), latin1(value)?.as_slice(), &secret);
    same_or_new(env, value, masked)
}

/// Whether a header names the secret, in its name or its value (decoded, for a binary header).
#[napi]
pub fn header_names_secret(name: JsString, value: JsString, secret: JsString) -> Result<bool> {
    let secret = secret_octets(secret)?;
    Ok(mask::header_names_secret(
        latin1(name)?.as_slice(),
        latin1(value)?.as_slice(),
        &secret,
    ))
}

fn same_or_new<'env>(
    env: &'env Env,
    same: JsString<'env>,
    new: Option<Vec<u8>>,
) -> Result<JsString<'env>> {
    match new {
        None => Ok(same),
        Some(octets) => env.create_string_latin1(octets).map_err(internal),
    }
}

fn latin1(text: JsString<'_>) -> Result<napi::JsStringLatin1<'_>> {
    text.into_latin1().map_err(|_| {
        Error::new(
            "ERR_INVALID_ARG_TYPE",
            "header names, values and texts to mask are latin1 strings".to_owned(),
        )
    })
}

/// The secret's octets: its characters, each up to U+00FF.
fn secret_octets(secret: JsString) -> Result<Vec<u8>> {
    // A lone surrogate reads as U+FFFD, which is refused like any character above U+00FF.
    let text = secret
        .into_utf8()
        .and_then(|text| text.into_owned())
        .map_err(|_| Error::new("ERR_INVALID_ARG_TYPE", "the secret is a string".to_owned()))?;
    text.chars()
        .enumerate()
        .map(|(index, character)| {
            u8::try_from(character).map_err(|_| {
                Error::new(
                    "ERR_INVALID_ARG_VALUE",
                    format!(
                        "the secret has U+{:04X} as its character {index}; it must be latin1 \
                         (characters up to U+00FF), as a header value is",
                        u32::from(character)
                    ),
                )
            })
        })
        .collect()
}

fn internal(error: napi::Error) -> Error<&'static str> {
    Error::new("GW_INTERNAL", format!("the native masker: {error}"))
}
