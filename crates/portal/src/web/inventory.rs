//! Administration of the inventory: the overview, customers and contacts,
//! orders, shipments, and importing a factory seed file into a shipment.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Form, Multipart, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use oathvault_store::{Counts, Customer, EventRow, Order, Shipment};

use oathvault_web::upload::{SeedUpload, read_seed_upload};

use super::{
    Administrator, AppState, Frame, Signed, message, refusal, render, see_other, unavailable, when,
};

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/admin/", get(overview))
        .route("/admin/customers", get(customers_page).post(add_customer))
        .route("/admin/customers/contact", post(add_contact))
        .route("/admin/orders", get(orders_page).post(add_order))
        .route("/admin/shipments", get(shipments_page).post(add_shipment))
        .route("/admin/shipments/shred", post(shred))
}

#[derive(Debug, Default, serde::Deserialize)]
struct ShredForm {
    #[serde(default)]
    number: String,
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    reason: String,
}

/// `POST /admin/shipments/shred`: destroys a shipment's seeds, once the
/// administrator typed its number again.
async fn shred(
    State(st): State<Arc<AppState>>,
    Administrator(me): Administrator,
    Form(f): Form<ShredForm>,
) -> Response {
    if f.confirm.trim() != f.number.trim() {
        let frame = Frame::for_staff(&me, "shipments").problem(format!(
            "Nothing was shredded: type the shipment number {} in the box to confirm.",
            f.number.trim()
        ));
        return shipments_view(
            &st,
            frame,
            StatusCode::UNPROCESSABLE_ENTITY,
            ShipmentForm::default(),
        )
        .await;
    }
    let reason = if f.reason.trim().is_empty() {
        "shredded from the shipments page"
    } else {
        f.reason.trim()
    };
    match st.admin().shred(&me.actor(), &f.number, reason).await {
        Ok(done) => see_other(
            "/admin/shipments",
            &format!(
                "Shredded shipment {}: its data key and {} sealed seed(s) were destroyed; the serials stay. Rotate the master key so older backups cannot recover them.",
                f.number.trim(),
                done.seeds
            ),
        ),
        Err(e) => {
            let (status, why) = refusal(&e);
            let frame = Frame::for_staff(&me, "shipments").problem(why);
            shipments_view(&st, frame, status, ShipmentForm::default()).await
        }
    }
}

#[derive(serde::Deserialize, Default)]
pub(super) struct Notice {
    pub(super) notice: Option<String>,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct Overview {
    frame: Frame,
    counts: Counts,
    recent: Vec<EventRow>,
}

impl Overview {
    #[allow(
        clippy::unused_self,
        clippy::trivially_copy_pass_by_ref,
        reason = "called from the template, which passes a reference"
    )]
    fn when(&self, at: &i64) -> String {
        when(*at)
    }
}

async fn overview(
    State(st): State<Arc<AppState>>,
    Administrator(me): Administrator,
    Query(q): Query<Notice>,
) -> Response {
    let frame = Frame::for_staff(&me, "overview").notice(q.notice);
    let counts = match st.store.counts().await {
        Ok(c) => c,
        Err(e) => return unavailable(frame, &e),
    };
    let recent = match st.store.audit_events(None, 10).await {
        Ok(r) => r,
        Err(e) => return unavailable(frame, &e),
    };
    render(
        StatusCode::OK,
        &Overview {
            frame,
            counts,
            recent,
        },
    )
}

/// What was typed into a form, kept when the form is shown again.
#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct CustomerForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    emails: String,
}

#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct ContactForm {
    #[serde(default)]
    customer: String,
    #[serde(default)]
    email: String,
}

#[derive(Template)]
#[template(path = "customers.html")]
struct CustomersPage {
    frame: Frame,
    customers: Vec<Customer>,
    draft: CustomerForm,
    contact: ContactForm,
}

async fn customers_view(
    st: &AppState,
    frame: Frame,
    status: StatusCode,
    draft: CustomerForm,
    contact: ContactForm,
) -> Response {
    match st.store.customers().await {
        Ok(customers) => render(
            status,
            &CustomersPage {
                frame,
                customers,
                draft,
                contact,
            },
        ),
        Err(e) => unavailable(frame, &e),
    }
}

async fn customers_page(
    State(st): State<Arc<AppState>>,
    Administrator(me): Administrator,
    Query(q): Query<Notice>,
) -> Response {
    let frame = Frame::for_staff(&me, "customers").notice(q.notice);
    customers_view(
        &st,
        frame,
        StatusCode::OK,
        CustomerForm::default(),
        ContactForm::default(),
    )
    .await
}

/// E-mail addresses from a text area: one per line, or separated by commas,
/// semicolons or spaces.
fn emails(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
        .collect()
}

async fn add_customer(
    State(st): State<Arc<AppState>>,
    Administrator(me): Administrator,
    Form(f): Form<CustomerForm>,
) -> Response {
    let list = emails(&f.emails);
    match st.admin().add_customer(&me.actor(), &f.name, &list).await {
        Ok(_) => see_other(
            "/admin/customers",
            &format!(
                "Added customer {} with {} contact(s).",
                f.name.trim(),
                list.len()
            ),
        ),
        Err(e) => {
            let (status, why) = refusal(&e);
            let frame = Frame::for_staff(&me, "customers").problem(why);
            customers_view(&st, frame, status, f, ContactForm::default()).await
        }
    }
}

async fn add_contact(
    State(st): State<Arc<AppState>>,
    Administrator(me): Administrator,
    Form(f): Form<ContactForm>,
) -> Response {
    match st
        .admin()
        .add_contact(&me.actor(), &f.customer, &f.email)
        .await
    {
        Ok(()) => see_other(
            "/admin/customers",
            &format!("Added {} to {}.", f.email.trim(), f.customer),
        ),
        Err(e) => {
            let (status, why) = refusal(&e);
            let frame = Frame::for_staff(&me, "customers").problem(why);
            customers_view(&st, frame, status, CustomerForm::default(), f).await
        }
    }
}

#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct OrderForm {
    #[serde(default)]
    customer: String,
    #[serde(default)]
    po: String,
    #[serde(default)]
    invoices: String,
}

#[derive(Template)]
#[template(path = "orders.html")]
struct OrdersPage {
    frame: Frame,
    orders: Vec<Order>,
    customers: Vec<String>,
    draft: OrderForm,
}

async fn orders_view(
    st: &AppState,
    frame: Frame,
    status: StatusCode,
    draft: OrderForm,
) -> Response {
    let (orders, customers) = match (st.store.orders().await, st.store.customers().await) {
        (Ok(o), Ok(c)) => (o, c.into_iter().map(|c| c.name).collect()),
        (Err(e), _) | (_, Err(e)) => return unavailable(frame, &e),
    };
    render(
        status,
        &OrdersPage {
            frame,
            orders,
            customers,
            draft,
        },
    )
}

async fn orders_page(
    State(st): State<Arc<AppState>>,
    Administrator(me): Administrator,
    Query(q): Query<Notice>,
) -> Response {
    let frame = Frame::for_staff(&me, "orders").notice(q.notice);
    orders_view(&st, frame, StatusCode::OK, OrderForm::default()).await
}

async fn add_order(
    State(st): State<Arc<AppState>>,
    Administrator(me): Administrator,
    Form(f): Form<OrderForm>,
) -> Response {
    let invoices = emails(&f.invoices);
    match st
        .admin()
        .add_order(&me.actor(), &f.customer, &f.po, &invoices)
        .await
    {
        Ok(_) => see_other(
            "/admin/orders",
            &format!("Added order {} for {}.", f.po.trim(), f.customer),
        ),
        Err(e) => {
            let (status, why) = refusal(&e);
            let frame = Frame::for_staff(&me, "orders").problem(why);
            orders_view(&st, frame, status, f).await
        }
    }
}

#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct ShipmentForm {
    #[serde(default)]
    order: String,
    #[serde(default)]
    number: String,
    #[serde(default)]
    date: String,
}

#[derive(Template)]
#[template(path = "shipments.html")]
struct ShipmentsPage {
    frame: Frame,
    shipments: Vec<Shipment>,
    orders: Vec<String>,
    draft: ShipmentForm,
}

impl ShipmentsPage {
    /// A time for the page.
    #[allow(
        clippy::unused_self,
        clippy::trivially_copy_pass_by_ref,
        reason = "askama calls it as a method, with a reference"
    )]
    fn when(&self, unix: &i64) -> String {
        when(*unix)
    }
}

async fn shipments_view(
    st: &AppState,
    frame: Frame,
    status: StatusCode,
    draft: ShipmentForm,
) -> Response {
    let (shipments, orders) = match (st.store.shipments().await, st.store.orders().await) {
        (Ok(s), Ok(o)) => (s, o.into_iter().map(|o| o.po).collect()),
        (Err(e), _) | (_, Err(e)) => return unavailable(frame, &e),
    };
    render(
        status,
        &ShipmentsPage {
            frame,
            shipments,
            orders,
            draft,
        },
    )
}

async fn shipments_page(
    State(st): State<Arc<AppState>>,
    Administrator(me): Administrator,
    Query(q): Query<Notice>,
) -> Response {
    let frame = Frame::for_staff(&me, "shipments").notice(q.notice);
    shipments_view(&st, frame, StatusCode::OK, ShipmentForm::default()).await
}

async fn add_shipment(
    State(st): State<Arc<AppState>>,
    Administrator(me): Administrator,
    Form(f): Form<ShipmentForm>,
) -> Response {
    let date = Some(f.date.trim()).filter(|d| !d.is_empty());
    match st
        .admin()
        .add_shipment(
            &mut oathvault_vault::random::os(),
            &me.actor(),
            &f.order,
            &f.number,
            date,
        )
        .await
    {
        Ok(_) => see_other(
            "/admin/shipments",
            &format!("Added shipment {} to order {}.", f.number.trim(), f.order),
        ),
        Err(e) => {
            let (status, why) = refusal(&e);
            let frame = Frame::for_staff(&me, "shipments").problem(why);
            shipments_view(&st, frame, status, f).await
        }
    }
}

#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct ImportQuery {
    shipment: Option<String>,
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "import.html")]
struct ImportPage {
    frame: Frame,
    shipments: Vec<Shipment>,
    chosen: String,
    problems: Vec<String>,
    more: usize,
    notes: Vec<String>,
    /// What the signature rule asks, in words (empty: no rule).
    signature: String,
}

async fn import_view(
    st: &AppState,
    frame: Frame,
    status: StatusCode,
    chosen: String,
    problems: Vec<String>,
    notes: Vec<String>,
) -> Response {
    let shipments = match st.store.shipments().await {
        Ok(s) => s,
        Err(e) => return unavailable(frame, &e),
    };
    let more = problems.len().saturating_sub(50);
    let problems = problems.into_iter().take(50).collect();
    let signature = st
        .settings
        .import_signature
        .as_ref()
        .map(|r| {
            let others = if r.signed_only {
                "; other formats are refused"
            } else {
                ""
            };
            format!(
                "PSKC files must carry an XML signature by {}{others}.",
                r.key.subject()
            )
        })
        .unwrap_or_default();
    render(
        status,
        &ImportPage {
            frame,
            shipments,
            chosen,
            problems,
            more,
            notes,
            signature,
        },
    )
}

pub(super) async fn import_page(
    State(st): State<Arc<AppState>>,
    Administrator(me): Administrator,
    Query(q): Query<ImportQuery>,
) -> Response {
    let frame = Frame::for_staff(&me, "import").notice(q.notice);
    import_view(
        &st,
        frame,
        StatusCode::OK,
        q.shipment.unwrap_or_default(),
        Vec::new(),
        Vec::new(),
    )
    .await
}

/// Why an upload was not imported, and what to show with the form again.
/// Why a seed file was not imported: the status, the words, every
/// problem in the file, and notes about it.
#[derive(Debug)]
pub(crate) struct Refused {
    pub status: StatusCode,
    pub why: String,
    pub problems: Vec<String>,
    pub notes: Vec<String>,
}

/// What a seed-file import did.
#[derive(Debug)]
pub(crate) struct Imported {
    /// The format's name.
    pub format: String,
    /// The counts.
    pub outcome: crate::ImportOutcome,
    /// Notes about the file that did not stop it.
    pub notes: Vec<String>,
}

impl Refused {
    fn new(status: StatusCode, why: impl Into<String>) -> Self {
        Self {
            status,
            why: why.into(),
            problems: Vec::new(),
            notes: Vec::new(),
        }
    }
}

pub(super) async fn import(
    State(st): State<Arc<AppState>>,
    Administrator(me): Administrator,
    form: Multipart,
) -> Response {
    let (chosen, result) = match read_seed_upload(form).await {
        Ok(up) => (
            up.field("shipment").to_owned(),
            import_upload(&st, &me, &up).await,
        ),
        Err(why) => (
            String::new(),
            Err(Refused::new(StatusCode::BAD_REQUEST, why)),
        ),
    };
    let frame = Frame::for_staff(&me, "import");
    match result {
        Ok(notice) => see_other("/admin/shipments", &notice),
        Err(r) if r.status == StatusCode::INTERNAL_SERVER_ERROR => message(
            r.status,
            frame,
            "Import failed",
            &r.why,
            Some("/admin/import"),
        ),
        Err(r) => {
            let frame = frame.problem(r.why);
            import_view(&st, frame, r.status, chosen, r.problems, r.notes).await
        }
    }
}

/// Imports an upload; the notice to show, or why nothing was imported.
async fn import_upload(st: &AppState, me: &Signed, up: &SeedUpload) -> Result<String, Refused> {
    let shipment = match st.store.shipments().await {
        Ok(all) => all.into_iter().find(|s| s.number == up.field("shipment")),
        Err(e) => {
            tracing::error!(error = %e, "database failure");
            return Err(Refused::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the portal cannot reach its database; nothing was imported",
            ));
        }
    };
    let shipment = shipment.ok_or_else(|| {
        Refused::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "choose the shipment the file belongs to",
        )
    })?;
    let done = import_seed_file(st, &me.actor(), &shipment, up).await?;
    let o = done.outcome;
    Ok(format!(
        "Imported {} tokens ({} TOTP, {} HOTP) from {} ({}) into shipment {}.",
        o.imported, o.totp, o.hotp, up.file_name, done.format, shipment.number
    ))
}

/// Reads an uploaded seed file and imports every token into `shipment`,
/// or none: a file with problems is refused with all of them, and the
/// refusal audited (the pages and the API share this).
pub(crate) async fn import_seed_file(
    st: &AppState,
    who: &crate::Actor,
    shipment: &oathvault_store::Shipment,
    up: &SeedUpload,
) -> Result<Imported, Refused> {
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let nothing = |why: &str| format!("{}: {why}; nothing was imported", up.file_name);
    let rule = st.settings.import_signature.as_ref();
    let (format, read) = up
        .read_checked(rule)
        .await
        .map_err(|why| Refused::new(unprocessable, nothing(&why)))?;
    // The audit record says the file was verified, and by whom.
    let file = match read
        .notes
        .iter()
        .find(|n| n.starts_with("XML signature verified"))
    {
        Some(n) if rule.is_some() => format!("{} ({n})", up.file_name),
        _ => up.file_name.clone(),
    };
    let admin = st.admin();
    if !read.problems.is_empty() {
        let (po, number) = (&shipment.po, &shipment.number);
        if let Err(e) = admin
            .import_refused(who, po, number, &file, &read.summary())
            .await
        {
            tracing::error!(error = %e, "import refusal not audited");
        }
        return Err(Refused {
            status: unprocessable,
            why: nothing(&format!("{} problem(s)", read.problems.len())),
            problems: read.problems,
            notes: read.notes,
        });
    }
    let outcome = admin
        .import(
            &mut oathvault_vault::random::os(),
            who,
            &shipment.po,
            &shipment.number,
            &file,
            &read.tokens,
        )
        .await;
    match outcome {
        Ok(o) => {
            tracing::info!(shipment = %shipment.number, tokens = o.imported, actor = %who.name, "import");
            Ok(Imported {
                format: format.name().to_owned(),
                outcome: o,
                notes: read.notes,
            })
        }
        Err(e) => {
            let (status, why) = refusal(&e);
            Err(Refused {
                status,
                why: nothing(&why),
                problems: Vec::new(),
                notes: read.notes,
            })
        }
    }
}
