//! Customers, contacts, orders and shipments, and importing seed files
//! into a shipment: the same workflow (and the same audit events, named
//! `api:<key>`) as the administration pages.

use std::sync::Arc;

use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use super::keys::{Caller, Scope};
use super::problem::{Body, Problem};
use crate::web::AppState;

type Answer<T> = Result<T, Problem>;

/// A customer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Customer {
    /// Company name (unique).
    pub name: String,
    /// Contact e-mail addresses (customers find their orders with them).
    pub contacts: Vec<String>,
    /// How many orders.
    pub orders: i64,
    /// When added (Unix seconds).
    pub created: i64,
}

impl From<oathvault_store::Customer> for Customer {
    fn from(c: oathvault_store::Customer) -> Self {
        Self {
            name: c.name,
            contacts: c.emails,
            orders: c.orders,
            created: c.created,
        }
    }
}

/// A customer to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCustomer {
    /// Company name (unique).
    pub name: String,
    /// At least one contact e-mail address.
    pub contacts: Vec<String>,
}

/// A contact to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewContact {
    /// The e-mail address.
    pub email: String,
}

/// An order.
#[derive(Debug, Serialize, ToSchema)]
pub struct Order {
    /// PO number (unique).
    pub po: String,
    /// The customer's name.
    pub customer: String,
    /// Invoice numbers.
    pub invoices: Vec<String>,
    /// How many shipments.
    pub shipments: i64,
    /// When added (Unix seconds).
    pub created: i64,
}

impl From<oathvault_store::Order> for Order {
    fn from(o: oathvault_store::Order) -> Self {
        Self {
            po: o.po,
            customer: o.customer,
            invoices: o.invoices,
            shipments: o.shipments,
            created: o.created,
        }
    }
}

/// An order to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrder {
    /// The customer's name (the customer must exist).
    pub customer: String,
    /// PO number (unique).
    pub po: String,
    /// Invoice numbers (customers may find the order by one).
    #[serde(default)]
    pub invoices: Vec<String>,
}

/// A shipment.
#[derive(Debug, Serialize, ToSchema)]
pub struct Shipment {
    /// Shipment number (unique).
    pub number: String,
    /// Its order's PO number.
    pub po: String,
    /// Shipping date (`YYYY-MM-DD`) when known.
    pub shipped_on: Option<String>,
    /// Tokens imported into it.
    pub tokens: i64,
    /// Distinct token models in it.
    pub models: Vec<String>,
    /// When added (Unix seconds).
    pub created: i64,
    /// When its seeds were shredded (Unix seconds), if they were.
    pub shredded: Option<i64>,
}

impl From<oathvault_store::Shipment> for Shipment {
    fn from(s: oathvault_store::Shipment) -> Self {
        Self {
            number: s.number,
            po: s.po,
            shipped_on: s.shipped_on,
            tokens: s.tokens,
            models: s.models,
            created: s.created,
            shredded: s.shredded_at,
        }
    }
}

/// A shipment to add to an order.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewShipment {
    /// Shipment number (unique).
    pub number: String,
    /// Shipping date, `YYYY-MM-DD`.
    #[serde(default)]
    pub shipped_on: Option<String>,
}

/// Which orders to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrderFilter {
    /// Only this customer's orders.
    pub customer: Option<String>,
}

/// What an import did.
#[derive(Debug, Serialize, ToSchema)]
pub struct Imported {
    /// The shipment.
    pub shipment: String,
    /// The file's name.
    pub file: String,
    /// The format recognised.
    pub format: String,
    /// Tokens added.
    pub imported: u64,
    /// TOTP tokens among them.
    pub totp: u64,
    /// HOTP tokens among them.
    pub hotp: u64,
    /// Notes about the file that did not stop the import.
    pub notes: Vec<String>,
}

/// The seed-file upload (multipart/form-data).
#[derive(Debug, ToSchema)]
#[allow(
    dead_code,
    reason = "describes the multipart body for the OpenAPI document"
)]
pub struct SeedFile {
    /// The seed file (PSKC, Entra CSV or JSON, …; the format is recognised).
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
    /// A PSKC pre-shared key, hex.
    pub psk: Option<String>,
    /// A PSKC password.
    pub passphrase: Option<String>,
}

/// The routes of this module.
pub(super) fn routes(max_upload: usize) -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new()
        .routes(routes!(list_customers, add_customer))
        .routes(routes!(get_customer))
        .routes(routes!(add_contact))
        .routes(routes!(list_orders, add_order))
        .routes(routes!(get_order))
        .routes(routes!(list_shipments, add_shipment))
        .routes(routes!(get_shipment))
        .routes(routes!(import_tokens).layer(DefaultBodyLimit::max(max_upload)))
}

/// Every customer, by name.
#[utoipa::path(get, path = "/customers", tag = "customers",
    responses((status = 200, description = "Done", body = Vec<Customer>), (status = "4XX", description = "Refused: the problem document says why (key, scope, body, name or rate)", body = Problem, content_type = "application/problem+json")),
    security(("api_key" = ["customers:read"])))]
async fn list_customers(
    State(st): State<Arc<AppState>>,
    caller: Caller,
) -> Answer<Json<Vec<Customer>>> {
    caller.require(Scope::CustomersRead)?;
    let all = st.store.customers().await?;
    Ok(Json(all.into_iter().map(Customer::from).collect()))
}

/// Adds a customer with its contacts.
#[utoipa::path(post, path = "/customers", tag = "customers", request_body = NewCustomer,
    responses((status = 201, description = "Created", body = Customer), (status = "4XX", description = "Refused: the problem document says why (key, scope, body, name or rate)", body = Problem, content_type = "application/problem+json")),
    security(("api_key" = ["customers:write"])))]
async fn add_customer(
    State(st): State<Arc<AppState>>,
    caller: Caller,
    Body(body): Body<NewCustomer>,
) -> Answer<(StatusCode, Json<Customer>)> {
    caller.require(Scope::CustomersWrite)?;
    st.admin()
        .add_customer(&caller.actor(), &body.name, &body.contacts)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(customer(&st, body.name.trim()).await?),
    ))
}

async fn customer(st: &AppState, name: &str) -> Answer<Customer> {
    st.store
        .customers()
        .await?
        .into_iter()
        .find(|c| c.name == name)
        .map(Customer::from)
        .ok_or_else(|| Problem::not_found(format!("there is no customer {name:?}")))
}

/// One customer.
#[utoipa::path(get, path = "/customers/{name}", tag = "customers",
    params(("name" = String, Path, description = "The customer's name")),
    responses((status = 200, description = "Done", body = Customer), (status = "4XX", description = "Refused: the problem document says why (key, scope, body, name or rate)", body = Problem, content_type = "application/problem+json")),
    security(("api_key" = ["customers:read"])))]
async fn get_customer(
    State(st): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Answer<Json<Customer>> {
    caller.require(Scope::CustomersRead)?;
    Ok(Json(customer(&st, &name).await?))
}

/// Adds a contact e-mail to a customer.
#[utoipa::path(post, path = "/customers/{name}/contacts", tag = "customers", request_body = NewContact,
    params(("name" = String, Path, description = "The customer's name")),
    responses((status = 201, description = "Created", body = Customer), (status = "4XX", description = "Refused: the problem document says why (key, scope, body, name or rate)", body = Problem, content_type = "application/problem+json")),
    security(("api_key" = ["customers:write"])))]
async fn add_contact(
    State(st): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    Body(body): Body<NewContact>,
) -> Answer<(StatusCode, Json<Customer>)> {
    caller.require(Scope::CustomersWrite)?;
    st.admin()
        .add_contact(&caller.actor(), &name, &body.email)
        .await?;
    Ok((StatusCode::CREATED, Json(customer(&st, &name).await?)))
}

/// Every order, newest first.
#[utoipa::path(get, path = "/orders", tag = "orders", params(OrderFilter),
    responses((status = 200, description = "Done", body = Vec<Order>), (status = "4XX", description = "Refused: the problem document says why (key, scope, body, name or rate)", body = Problem, content_type = "application/problem+json")),
    security(("api_key" = ["orders:read"])))]
async fn list_orders(
    State(st): State<Arc<AppState>>,
    caller: Caller,
    Query(filter): Query<OrderFilter>,
) -> Answer<Json<Vec<Order>>> {
    caller.require(Scope::OrdersRead)?;
    let all = st.store.orders().await?;
    Ok(Json(
        all.into_iter()
            .filter(|o| filter.customer.as_ref().is_none_or(|c| &o.customer == c))
            .map(Order::from)
            .collect(),
    ))
}

/// Adds an order for a customer.
#[utoipa::path(post, path = "/orders", tag = "orders", request_body = NewOrder,
    responses((status = 201, description = "Created", body = Order), (status = "4XX", description = "Refused: the problem document says why (key, scope, body, name or rate)", body = Problem, content_type = "application/problem+json")),
    security(("api_key" = ["orders:write"])))]
async fn add_order(
    State(st): State<Arc<AppState>>,
    caller: Caller,
    Body(body): Body<NewOrder>,
) -> Answer<(StatusCode, Json<Order>)> {
    caller.require(Scope::OrdersWrite)?;
    st.admin()
        .add_order(&caller.actor(), &body.customer, &body.po, &body.invoices)
        .await?;
    Ok((StatusCode::CREATED, Json(order(&st, body.po.trim()).await?)))
}

async fn order(st: &AppState, po: &str) -> Answer<Order> {
    st.store
        .orders()
        .await?
        .into_iter()
        .find(|o| o.po == po)
        .map(Order::from)
        .ok_or_else(|| Problem::not_found(format!("there is no order {po:?}")))
}

/// One order.
#[utoipa::path(get, path = "/orders/{po}", tag = "orders",
    params(("po" = String, Path, description = "The PO number")),
    responses((status = 200, description = "Done", body = Order), (status = "4XX", description = "Refused: the problem document says why (key, scope, body, name or rate)", body = Problem, content_type = "application/problem+json")),
    security(("api_key" = ["orders:read"])))]
async fn get_order(
    State(st): State<Arc<AppState>>,
    caller: Caller,
    Path(po): Path<String>,
) -> Answer<Json<Order>> {
    caller.require(Scope::OrdersRead)?;
    Ok(Json(order(&st, &po).await?))
}

/// An order's shipments, newest first.
#[utoipa::path(get, path = "/orders/{po}/shipments", tag = "orders",
    params(("po" = String, Path, description = "The PO number")),
    responses((status = 200, description = "Done", body = Vec<Shipment>), (status = "4XX", description = "Refused: the problem document says why (key, scope, body, name or rate)", body = Problem, content_type = "application/problem+json")),
    security(("api_key" = ["orders:read"])))]
async fn list_shipments(
    State(st): State<Arc<AppState>>,
    caller: Caller,
    Path(po): Path<String>,
) -> Answer<Json<Vec<Shipment>>> {
    caller.require(Scope::OrdersRead)?;
    order(&st, &po).await?;
    let all = st.store.shipments().await?;
    Ok(Json(
        all.into_iter()
            .filter(|s| s.po == po)
            .map(Shipment::from)
            .collect(),
    ))
}

/// Adds a shipment to an order (with a fresh data key for its seeds).
#[utoipa::path(post, path = "/orders/{po}/shipments", tag = "orders", request_body = NewShipment,
    params(("po" = String, Path, description = "The PO number")),
    responses((status = 201, description = "Created", body = Shipment), (status = "4XX", description = "Refused: the problem document says why (key, scope, body, name or rate)", body = Problem, content_type = "application/problem+json")),
    security(("api_key" = ["orders:write"])))]
async fn add_shipment(
    State(st): State<Arc<AppState>>,
    caller: Caller,
    Path(po): Path<String>,
    Body(body): Body<NewShipment>,
) -> Answer<(StatusCode, Json<Shipment>)> {
    caller.require(Scope::OrdersWrite)?;
    st.admin()
        .add_shipment(
            &mut oathvault_vault::random::os(),
            &caller.actor(),
            &po,
            &body.number,
            body.shipped_on.as_deref().filter(|d| !d.trim().is_empty()),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(shipment(&st, body.number.trim()).await?),
    ))
}

async fn shipment(st: &AppState, number: &str) -> Answer<Shipment> {
    st.store
        .shipments()
        .await?
        .into_iter()
        .find(|s| s.number == number)
        .map(Shipment::from)
        .ok_or_else(|| Problem::not_found(format!("there is no shipment {number:?}")))
}

/// One shipment.
#[utoipa::path(get, path = "/shipments/{number}", tag = "orders",
    params(("number" = String, Path, description = "The shipment number")),
    responses((status = 200, description = "Done", body = Shipment), (status = "4XX", description = "Refused: the problem document says why (key, scope, body, name or rate)", body = Problem, content_type = "application/problem+json")),
    security(("api_key" = ["orders:read"])))]
async fn get_shipment(
    State(st): State<Arc<AppState>>,
    caller: Caller,
    Path(number): Path<String>,
) -> Answer<Json<Shipment>> {
    caller.require(Scope::OrdersRead)?;
    Ok(Json(shipment(&st, &number).await?))
}

/// Imports a seed file into a shipment: every token or none. A file with
/// problems is refused with every problem listed (up to 50, then a count).
#[utoipa::path(post, path = "/shipments/{number}/tokens", tag = "orders",
    params(("number" = String, Path, description = "The shipment number")),
    request_body(content = SeedFile, content_type = "multipart/form-data"),
    responses((status = 201, description = "Created", body = Imported), (status = "4XX", description = "Refused: the problem document says why (key, scope, body, name or rate)", body = Problem, content_type = "application/problem+json")),
    security(("api_key" = ["tokens:import"])))]
async fn import_tokens(
    State(st): State<Arc<AppState>>,
    caller: Caller,
    Path(number): Path<String>,
    form: Result<Multipart, MultipartRejection>,
) -> Answer<(StatusCode, Json<Imported>)> {
    caller.require(Scope::TokensImport)?;
    let form = form.map_err(|r| {
        Problem::new(
            r.status(),
            "invalid-upload",
            "The upload cannot be read",
            format!(
                "send the file as multipart/form-data with a part named \"file\" ({})",
                r.body_text()
            ),
        )
    })?;
    let target = st
        .store
        .shipments()
        .await?
        .into_iter()
        .find(|s| s.number == number)
        .ok_or_else(|| Problem::not_found(format!("there is no shipment {number:?}")))?;
    let up = oathvault_web::upload::read_seed_upload(form)
        .await
        .map_err(|why| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid-upload",
                "The upload cannot be read",
                why,
            )
        })?;
    match crate::web::import_seed_file(&st, &caller.actor(), &target, &up).await {
        Ok(done) => Ok((
            StatusCode::CREATED,
            Json(Imported {
                shipment: target.number,
                file: up.file_name.clone(),
                format: done.format,
                imported: done.outcome.imported,
                totp: done.outcome.totp,
                hotp: done.outcome.hotp,
                notes: done.notes,
            }),
        )),
        Err(r) => {
            let status = r.status;
            let p = Problem::new(status, "invalid-file", "The file was not imported", r.why);
            Err(if status == StatusCode::INTERNAL_SERVER_ERROR {
                p
            } else {
                p.with_items(r.problems)
            })
        }
    }
}
