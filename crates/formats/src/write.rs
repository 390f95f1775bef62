//! Writing: a per-format [`Encoder`] turns one token into its item bytes, and
//! a [`Framing`] adds what surrounds items (a CSV header, the Graph
//! envelope and `@contentId`s). A sequential writer and the parallel
//! converter share both, so a file is byte-for-byte the same either way.

use std::io::Write;

use oathvault_token::Token;
use zeroize::Zeroize;

use crate::emit::{Encoder, TokenWriter, WriteSummary, push_decimal};
use crate::error::Error;
use crate::{Format, WriteOptions, entra_csv, entra_json, jsonl};

/// The encoder of a line- or item-based `format`; `None` for PSKC, whose
/// items depend on per-file keys (use [`writer`]).
#[must_use]
pub fn encoder(format: Format, options: &WriteOptions) -> Option<Box<dyn Encoder>> {
    Some(match format {
        Format::EntraCsv => Box::<entra_csv::Encoder>::default(),
        Format::SafeIdCsv => Box::new(entra_csv::Encoder::safeid()),
        Format::EntraJson => Box::<entra_json::Encoder>::default(),
        Format::Jsonl => Box::new(jsonl::Encoder::new(options.secret_encoding)),
        Format::DuoCsv => Box::<crate::duo_csv::Encoder>::default(),
        Format::SalesforceCsv => Box::<crate::salesforce_csv::Encoder>::default(),
        Format::OktaCsv => Box::new(crate::okta_csv::Encoder::new(options.secret_encoding)),
        Format::CustomCsv => {
            let template = options.custom.clone()?;
            let template = crate::custom_csv::Template {
                secret_encoding: options.secret_encoding,
                ..template
            };
            Box::new(crate::custom_csv::Encoder::new(template))
        }
        Format::Pskc | Format::OathCsv | Format::YubicoCsv | Format::DualShield => return None,
    })
}

/// What surrounds the items of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framing(Format);

impl Framing {
    /// The framing of `format`.
    #[must_use]
    pub fn of(format: Format) -> Self {
        Self(format)
    }

    /// Bytes before the first item.
    #[must_use]
    pub fn begin(self) -> &'static [u8] {
        match self.0 {
            Format::EntraCsv | Format::SafeIdCsv => {
                b"upn,serial number,secret key,time interval,manufacturer,model\r\n"
            }
            Format::EntraJson => b"{\"@context\":\"#$delta\",\"value\":[",
            Format::SalesforceCsv => crate::salesforce_csv::HEADER,
            Format::OktaCsv => crate::okta_csv::HEADER,
            Format::Jsonl
            | Format::Pskc
            | Format::OathCsv
            | Format::DuoCsv
            | Format::YubicoCsv
            | Format::CustomCsv
            | Format::DualShield => b"",
        }
    }

    /// Appends what goes before item number `index` (1-based).
    pub fn item(self, index: u64, out: &mut Vec<u8>) {
        if self.0 == Format::EntraJson {
            out.extend_from_slice(if index == 1 {
                b"\n{\"@contentId\":\""
            } else {
                b",\n{\"@contentId\":\""
            });
            push_decimal(out, index);
            out.extend_from_slice(b"\",");
        }
    }

    /// Bytes after the last of `count` items.
    #[must_use]
    pub fn end(self, count: u64) -> &'static [u8] {
        match (self.0, count) {
            (Format::EntraJson, 0) => b"]}\n",
            (Format::EntraJson, _) => b"\n]}\n",
            (
                Format::EntraCsv
                | Format::SafeIdCsv
                | Format::Jsonl
                | Format::Pskc
                | Format::OathCsv
                | Format::DuoCsv
                | Format::SalesforceCsv
                | Format::OktaCsv
                | Format::YubicoCsv
                | Format::CustomCsv
                | Format::DualShield,
                _,
            ) => b"",
        }
    }
}

/// The sequential writer: framing and encoder over a `Write`.
struct Writer<W: Write> {
    out: W,
    framing: Framing,
    encoder: Box<dyn Encoder>,
    item: Vec<u8>,
    frame: Vec<u8>,
    tokens: u64,
}

impl<W: Write> TokenWriter for Writer<W> {
    fn write(&mut self, token: &Token) -> Result<(), Error> {
        // Reused: cleared per token, wiped on finish or drop.
        self.item.clear();
        self.encoder.encode(token, &mut self.item)?;
        self.tokens += 1;
        self.frame.clear();
        self.framing.item(self.tokens, &mut self.frame);
        self.out.write_all(&self.frame)?;
        self.out.write_all(&self.item)?;
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<WriteSummary, Error> {
        self.item.zeroize();
        self.out.write_all(self.framing.end(self.tokens))?;
        self.out.flush()?;
        Ok(WriteSummary {
            tokens: self.tokens,
            users_dropped: self.encoder.users_dropped(),
        })
    }
}

impl<W: Write> Drop for Writer<W> {
    fn drop(&mut self) {
        self.item.zeroize();
    }
}

/// Opens a writer of `format` over `output` (the header or envelope is
/// written now).
pub fn writer<'a, W: Write + 'a>(
    format: Format,
    mut output: W,
    options: &WriteOptions,
) -> Result<Box<dyn TokenWriter + 'a>, Error> {
    if format == Format::DualShield {
        return Ok(Box::new(crate::dualshield::Writer::new(output)));
    }
    if format == Format::Pskc {
        // Per-file keys, so its own writer.
        let random = Box::new(crate::pskc::OsRandom::default());
        return Ok(Box::new(crate::pskc::Writer::new(
            output,
            &options.pskc,
            random,
        )?));
    }
    let Some(encoder) = encoder(format, options) else {
        let msg = if format == Format::CustomCsv {
            "custom-csv needs a template (--template)".to_owned()
        } else {
            format!("oathvault reads {format} but does not write it")
        };
        return Err(Error::new(crate::ErrorKind::Syntax(msg)));
    };
    let framing = Framing::of(format);
    output.write_all(framing.begin())?;
    output.write_all(&encoder.header())?;
    Ok(Box::new(Writer {
        out: output,
        framing,
        encoder,
        item: Vec::with_capacity(512),
        frame: Vec::with_capacity(32),
        tokens: 0,
    }))
}
