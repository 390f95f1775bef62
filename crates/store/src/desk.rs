//! The help-desk console's tables: operators' desk roles, and the desk's
//! copy of the tenant's token inventory and users (no secrets: Graph never
//! returns them), so that its pages search, filter, count and page a large
//! inventory in milliseconds. The copy is replaced whole by a sync and
//! row by row after each action the desk takes.
//!
//! One module each: `roles` (who may use the desk), `inventory` (the
//! copy), `drift` (the tokens' drift histories) and `approvals`
//! (destructive actions a second administrator decides).

mod approvals;
mod drift;
mod inventory;
mod roles;

pub use approvals::Approval;
pub use drift::DriftSample;
pub use inventory::{Cursor, DeskDevice, DeskUser, DevicePage, DeviceQuery, SyncState};
pub use roles::DeskRole;
