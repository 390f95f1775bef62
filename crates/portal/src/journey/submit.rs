//! Step 5 of the request: submission — every file built, packed (AES-256
//! ZIP, OpenPGP) and sealed under a fresh data key, stored with the request
//! in one transaction, the mail queued.

#[allow(
    clippy::wildcard_imports,
    reason = "the steps of one wizard, split for size"
)]
use super::*;

impl Journey<'_> {
    /// Step 5: submits — builds, packs and seals every file, stores them
    /// with the request in one transaction, queues the mail.
    pub async fn submit(
        &self,
        request: &Request,
        now: i64,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<(), JourneyError> {
        let (Some(mode), Some(options_json)) = (&request.protection, &request.format_options)
        else {
            return Err(JourneyError::Invalid(
                "choose the protection and the format first".into(),
            ));
        };
        let choice: FormatChoice = serde_json::from_str(options_json)
            .map_err(|e| JourneyError::Build(format!("stored format options: {e}")))?;
        let secrets: WizardSecrets = match self.store.draft_password(request.id).await? {
            Some(sealed) => {
                let plain = self.master.open(&secrets_purpose(request.id), &sealed)?;
                serde_json::from_slice(&plain)
                    .map_err(|e| JourneyError::Build(format!("sealed wizard secrets: {e}")))?
            }
            None => WizardSecrets::default(),
        };
        let password = secrets.password.as_deref().map(Password::new);
        if matches!(mode.as_str(), "password" | "both") && password.is_none() {
            return Err(JourneyError::Invalid("type the password again".into()));
        }
        let recipient = match &request.pgp_key {
            Some(k) if mode != "password" => {
                Some(check_pgp_key(k, now).map_err(JourneyError::Invalid)?.0)
            }
            _ => None,
        };
        let (format, options) = write_options(&choice, password.as_ref())?;
        let groups = self.picked_tokens(request).await?;
        let problems = format_problems(format, &options, &groups);
        if !problems.is_empty() {
            return Err(JourneyError::Invalid(problems.join("\n")));
        }
        let parts: Vec<(Vec<String>, Vec<Token>)> = if request.split == "per-shipment" {
            groups.into_iter().map(|(n, ts)| (vec![n], ts)).collect()
        } else {
            vec![(
                groups.iter().map(|(n, _)| n.clone()).collect(),
                groups.into_iter().flat_map(|(_, ts)| ts).collect(),
            )]
        };
        let signer = self.vendor_key(now, rng).await?;
        // Rendering, zipping, OpenPGP and Argon2id take CPU for a while:
        // on the blocking pool, so the other pages keep answering.
        let job = PackJob {
            signer,
            reference: request.reference.clone(),
            po: request.po.clone(),
            vendor: self.policy.vendor.clone(),
            format,
            options,
            password,
            recipient,
            now,
        };
        // At most one build per core at a time: Argon2id takes 19 MiB and a
        // core each, and a burst of submissions must not thrash.
        let _permit = builders()
            .acquire()
            .await
            .map_err(|e| JourneyError::Build(format!("the build queue closed: {e}")))?;
        let (packed, password_hash) = tokio::task::spawn_blocking(move || job.run(&parts))
            .await
            .map_err(|e| JourneyError::Build(format!("the build stopped: {e}")))??;
        let files: Vec<NewFile> = packed
            .into_iter()
            .map(|p| self.seal_file(request, p, rng))
            .collect();
        let mail = [
            mail::seal(self.master, &mail::received(self.policy, request, &files)),
            mail::seal(
                self.master,
                &mail::new_request(self.policy, request, &files),
            ),
        ];
        let total: i64 = files.iter().map(|f| f.tokens).sum();
        self.store
            .submit(
                request.id,
                password_hash.as_deref(),
                &files,
                &mail,
                &Event::ok(
                    now,
                    &request.email,
                    &request.source,
                    "request.submit",
                    &format!("request:{}", request.reference),
                )
                .with_detail(format!(
                    "{} file(s), {total} tokens, {}, {mode}",
                    files.len(),
                    format.name()
                )),
            )
            .await?;
        Ok(())
    }

    /// The vendor's signing key (every delivery's MANIFEST is signed); one
    /// is made the first time.
    async fn vendor_key(
        &self,
        now: i64,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<crate::signing::VendorKey, JourneyError> {
        crate::signing::VendorKey::load_or_generate(
            self.store,
            self.master,
            rng,
            &self.policy.vendor,
            (now, "portal", "portal"),
        )
        .await
        .map_err(|e| JourneyError::Build(e.to_string()))
    }

    /// Seals a packed file under a fresh data key wrapped by the master key.
    fn seal_file(
        &self,
        request: &Request,
        p: Packed,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> NewFile {
        let sha256 = data_encoding::HEXLOWER.encode(&Sha256::digest(p.bytes.as_slice()));
        let data = DataKey::generate(rng);
        let content_sealed = data.seal(rng, &request.reference, &p.name, &p.bytes);
        let key_wrapped =
            self.master
                .wrap(rng, &data, &file_key_owner(&request.reference, &p.name));
        NewFile {
            shipments: p.numbers,
            name: p.name,
            tokens: p.tokens,
            content_sealed,
            key_wrapped,
            master_key_id: self.master.id(),
            sha256,
            size: i64::try_from(p.bytes.len()).unwrap_or(i64::MAX),
        }
    }
}

/// The builds allowed at once: one per core.
fn builders() -> &'static tokio::sync::Semaphore {
    static BUILDERS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    BUILDERS.get_or_init(|| {
        tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, usize::from))
    })
}

/// What building a request's files needs, owned (it runs on the blocking
/// pool).
struct PackJob {
    signer: crate::signing::VendorKey,
    reference: String,
    po: String,
    vendor: String,
    format: Format,
    options: WriteOptions,
    password: Option<Password>,
    recipient: Option<PublicKey>,
    now: i64,
}

/// One file, packed (not yet sealed).
struct Packed {
    numbers: Vec<String>,
    name: String,
    tokens: i64,
    bytes: Zeroizing<Vec<u8>>,
}

impl PackJob {
    /// Packs every part and hashes the download password.
    fn run(
        &self,
        parts: &[(Vec<String>, Vec<Token>)],
    ) -> Result<(Vec<Packed>, Option<String>), JourneyError> {
        let mut rng = oathvault_vault::random::os();
        let seal = Seal {
            password: self.password.as_ref(),
            recipient: self.recipient.as_ref(),
            pgp_password: None,
            signer: Some(self.signer.signer()),
            now: self.now,
        };
        let packed = parts
            .iter()
            .map(|(numbers, tokens)| self.pack(numbers, tokens, &seal, &mut rng))
            .collect::<Result<_, _>>()?;
        let password_hash = match &self.password {
            Some(p) => Some(
                crate::admin::hash_password(&mut rng, p.expose())
                    .map_err(|e| JourneyError::Build(e.to_string()))?,
            ),
            None => None,
        };
        Ok((packed, password_hash))
    }

    fn pack(
        &self,
        numbers: &[String],
        tokens: &[Token],
        seal: &Seal<'_>,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Packed, JourneyError> {
        let mut rendered = Zeroizing::new(Vec::new());
        {
            let mut w = oathvault_formats::writer(self.format, &mut *rendered, &self.options)
                .map_err(|e| JourneyError::Build(e.to_string()))?;
            for t in tokens {
                w.write(t).map_err(|e| JourneyError::Build(e.to_string()))?;
            }
            w.finish().map_err(|e| JourneyError::Build(e.to_string()))?;
        }
        let stem = format!(
            "{}-{}",
            self.reference,
            numbers
                .join("+")
                .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_")
        );
        let serials: Vec<&str> = tokens.iter().map(|t| t.serial.as_str()).collect();
        let mut manifest = Manifest::new(&[], seal.now);
        manifest.vendor = Some(self.vendor.clone());
        manifest.order = Some(self.po.clone());
        manifest.shipments = numbers.to_vec();
        let source = Source {
            entry: Entry {
                name: format!("{stem}.{}", self.format.extension()),
                bytes: 0,
                sha256: String::new(),
                format: Some(self.format.name().to_owned()),
                tokens: Some(u64::try_from(tokens.len()).unwrap_or(u64::MAX)),
                first_serial: serials.iter().min().map(|s| (*s).to_owned()),
                last_serial: serials.iter().max().map(|s| (*s).to_owned()),
            },
            content: Box::new(rendered.as_slice()),
        };
        let mut bytes = Zeroizing::new(Vec::new());
        package::pack_stream(rng, vec![source], manifest, seal, &mut *bytes)
            .map_err(|e| JourneyError::Build(e.to_string()))?;
        Ok(Packed {
            numbers: numbers.to_vec(),
            name: format!("{stem}.{}", package::extension(seal)),
            tokens: i64::try_from(tokens.len()).unwrap_or(i64::MAX),
            bytes,
        })
    }
}

/// Whom a file's data key belongs to (binds the wrapped key to the file).
#[must_use]
pub fn file_key_owner(reference: &str, name: &str) -> String {
    oathvault_store::custody::bind::file_key(reference, name)
}

/// Every reason `format` cannot carry the groups' tokens (serial: why).
pub(super) fn format_problems(
    format: Format,
    options: &WriteOptions,
    groups: &[(String, Vec<Token>)],
) -> Vec<String> {
    let target: Target = format.target();
    let mut out: Vec<String> = groups
        .iter()
        .flat_map(|(_, ts)| ts.iter())
        .flat_map(|t| target.check(t))
        .map(|v| v.to_string())
        .collect();
    if out.is_empty()
        && let Err(e) = oathvault_formats::writer(format, std::io::sink(), options)
    {
        out.push(e.to_string());
    }
    out
}

/// The writer settings a choice names.
pub(super) fn write_options(
    choice: &FormatChoice,
    password: Option<&Password>,
) -> Result<(Format, WriteOptions), JourneyError> {
    let format: Format = choice.format.parse().map_err(JourneyError::Invalid)?;
    if !format.writable() {
        return Err(JourneyError::Invalid(format!(
            "{} can only be read",
            format.name()
        )));
    }
    let mut options = WriteOptions::default();
    if let Some(e) = &choice.encoding {
        options.secret_encoding = match e.as_str() {
            "hex" => SecretEncoding::Hex,
            "base32" => SecretEncoding::Base32,
            "base64" => SecretEncoding::Base64,
            other => {
                return Err(JourneyError::Invalid(format!(
                    "unknown secret encoding {other:?}"
                )));
            }
        };
    }
    if format == Format::Pskc {
        options.pskc = match choice.pskc.as_deref().unwrap_or("plain") {
            "plain" => Protection::Plain,
            "passphrase" => match password {
                Some(p) => Protection::Passphrase {
                    passphrase: Zeroizing::new(p.expose().to_owned()),
                    iterations: oathvault_formats::pskc::DEFAULT_ITERATIONS,
                    name: "the download password".into(),
                },
                // Checked again at submission, when the password is known.
                None => Protection::Plain,
            },
            other => {
                return Err(JourneyError::Invalid(format!(
                    "unknown PSKC protection {other:?}"
                )));
            }
        };
    }
    if format == Format::CustomCsv {
        let mut columns = Vec::new();
        for (name, value) in &choice.columns {
            let name = name.trim();
            if name.is_empty() {
                continue;
            }
            let value =
                if let Some(fixed) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                    Value::Fixed(fixed.to_owned())
                } else {
                    Value::Property(
                        Property::ALL
                            .iter()
                            .find(|(n, _)| n.eq_ignore_ascii_case(value.trim()))
                            .map(|(_, p)| *p)
                            .ok_or_else(|| {
                                JourneyError::Invalid(format!("unknown token property {value:?}"))
                            })?,
                    )
                };
            columns.push(Column {
                name: name.to_owned(),
                value,
            });
        }
        if columns.is_empty() {
            return Err(JourneyError::Invalid("add at least one column".into()));
        }
        options.custom = Some(Template {
            columns,
            header: choice.header,
            secret_encoding: options.secret_encoding,
        });
    }
    Ok((format, options))
}

/// A stored token with its secret opened.
pub(super) fn token_of(
    data: &DataKey,
    shipment: &str,
    r: &TokenRow,
) -> Result<Token, JourneyError> {
    let bad =
        |what: &str| JourneyError::Build(format!("token {}: stored {what} unreadable", r.serial));
    let plain = data.open(shipment, &r.serial, &r.sealed)?;
    let secret = Secret::new(plain.to_vec()).map_err(|_| bad("secret"))?;
    let u = |v: Option<i64>| v.and_then(|v| u64::try_from(v).ok()).unwrap_or(0);
    let step = Step::new(u(r.step).max(1)).map_err(|_| bad("step"))?;
    let kind = Kind::parse_name(&r.kind, step, u(r.t0), u(r.counter)).map_err(|_| bad("kind"))?;
    let hash = match r.hash.as_str() {
        "sha1" => Hash::Sha1,
        "sha256" => Hash::Sha256,
        "sha512" => Hash::Sha512,
        _ => return Err(bad("hash")),
    };
    let digits = Digits::new(u(Some(r.digits))).map_err(|_| bad("digits"))?;
    let mut t = Token::totp(
        Serial::new(&r.serial).map_err(|_| bad("serial"))?,
        secret,
        step,
    );
    t.kind = kind;
    t.hash = hash;
    t.digits = digits;
    t.manufacturer.clone_from(&r.manufacturer);
    t.model.clone_from(&r.model);
    Ok(t)
}
