//! Steps 3 and 4 of the request: the protection (password, OpenPGP key,
//! or both) and the format, with a preview.

#[allow(
    clippy::wildcard_imports,
    reason = "the steps of one wizard, split for size"
)]
use super::*;

impl Journey<'_> {
    /// Step 3: protection. Checks the password (twice, strength) and the
    /// OpenPGP key as the mode needs, and keeps them with the draft (the
    /// password sealed, until submission).
    #[allow(clippy::too_many_arguments, reason = "one per form field")]
    pub async fn protect(
        &self,
        request: &Request,
        split: &str,
        mode: &str,
        password: &str,
        again: &str,
        pgp_key: &str,
        now: i64,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Option<KeyInfo>, JourneyError> {
        let split = match split {
            "one" | "per-shipment" => split,
            _ => {
                return Err(JourneyError::Invalid(
                    "choose one file or one per shipment".into(),
                ));
            }
        };
        let (wants_password, wants_pgp) = match mode {
            "password" => (true, false),
            "pgp" => (false, true),
            "both" => (true, true),
            _ => {
                return Err(JourneyError::Invalid(
                    "choose password, OpenPGP or both".into(),
                ));
            }
        };
        if wants_password {
            check_password(password, again).map_err(JourneyError::Invalid)?;
        }
        let key = if wants_pgp {
            if pgp_key.trim().is_empty() {
                return Err(JourneyError::Invalid(
                    "paste or upload your OpenPGP public key".into(),
                ));
            }
            let (key, info) = check_pgp_key(pgp_key, now).map_err(JourneyError::Invalid)?;
            Some((
                key.to_armored()
                    .map_err(|e| JourneyError::Invalid(format!("the OpenPGP key: {e}")))?,
                info,
            ))
        } else {
            None
        };
        let sealed = if wants_password {
            let secrets = WizardSecrets {
                password: Some(password.to_owned()),
                psk: None,
            };
            let json = Zeroizing::new(serde_json::to_vec(&secrets).unwrap_or_default());
            Some(self.master.seal(rng, &secrets_purpose(request.id), &json))
        } else {
            None
        };
        let fingerprint = key.as_ref().map(|(_, i)| i.fingerprint.clone());
        self.store
            .set_protection(
                request.id,
                split,
                mode,
                sealed.as_deref(),
                key.as_ref().map(|(k, _)| k.as_str()),
                fingerprint.as_deref(),
                &Event::ok(
                    now,
                    &request.email,
                    &request.source,
                    "request.protect",
                    &format!("request:{}", request.reference),
                )
                .with_detail(match &fingerprint {
                    Some(f) => format!("{mode}, {split}, OpenPGP {f}"),
                    None => format!("{mode}, {split}"),
                }),
            )
            .await?;
        Ok(key.map(|(_, i)| i))
    }

    /// The tokens a draft covers (secrets opened), grouped by shipment.
    pub async fn picked_tokens(
        &self,
        request: &Request,
    ) -> Result<Vec<(String, Vec<Token>)>, JourneyError> {
        let mut out = Vec::new();
        for p in self.store.picked(request.id).await? {
            if let Some(at) = self.store.shredded_at(&p.number).await? {
                return Err(self.shredded(&p.number, at));
            }
            out.push((
                p.number.clone(),
                self.tokens(&request.po, &p.number, p.shipment_id).await?,
            ));
        }
        Ok(out)
    }

    /// Step 4: the format. Refuses a format that cannot carry some of the
    /// picked tokens, naming every serial and why.
    pub async fn choose_format(
        &self,
        request: &Request,
        choice: &FormatChoice,
        now: i64,
    ) -> Result<(), JourneyError> {
        let (format, options) = write_options(choice, None)?;
        let groups = self.picked_tokens(request).await?;
        if groups.is_empty() {
            return Err(JourneyError::Gone);
        }
        let problems = format_problems(format, &options, &groups);
        if !problems.is_empty() {
            return Err(JourneyError::Invalid(format!(
                "{} cannot carry these tokens:\n{}",
                format.name(),
                problems.join("\n")
            )));
        }
        let json = serde_json::to_string(choice).unwrap_or_default();
        self.store
            .set_format(
                request.id,
                format.name(),
                &json,
                &Event::ok(
                    now,
                    &request.email,
                    &request.source,
                    "request.format",
                    &format!("request:{}", request.reference),
                )
                .with_detail(format.name()),
            )
            .await?;
        Ok(())
    }

    /// The first rows a Custom CSV choice gives, secrets masked.
    pub async fn preview(
        &self,
        request: &Request,
        choice: &FormatChoice,
    ) -> Result<String, JourneyError> {
        let (_, options) = write_options(choice, None)?;
        let Some(template) = &options.custom else {
            return Ok(String::new());
        };
        let groups = self.picked_tokens(request).await?;
        let first: Vec<Token> = groups
            .iter()
            .flat_map(|(_, ts)| ts.iter())
            .take(3)
            .cloned()
            .collect();
        Ok(template.preview(&first))
    }
}
