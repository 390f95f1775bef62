//! Who may do what, in one place: Graph's permission tables and Entra's
//! directory roles (`graph-hardware-oath.md` §3.1, `identity-platform.md`
//! §5). Every route that reads or changes something asks
//! [`Principal::allow`] for its [`Operation`] and, when it acts on a user,
//! names that user.
//!
//! - An **application** (client credentials) needs one of the operation's
//!   application permissions (`roles` in its token); no directory role.
//! - A **signed-in user** (delegated token) needs one of the operation's
//!   delegated permissions (`scp`) and, unless acting on themselves, one of
//!   its directory roles (`wids`; Global Administrator holds every role);
//!   changing another user's methods also follows Microsoft's rule of whose
//!   methods each role may manage ([`may_manage`]).
//!
//! The same table decides which delegated scopes a user's token may carry
//! at all ([`scope_allowed`]): a scope none of the user's roles could use
//! is not issued.

use axum::http::StatusCode;

use crate::GraphError;
use crate::admin::role;
use crate::db::User;
use crate::graph::Principal;

/// Application permissions and delegated scopes, as Graph names them.
pub(crate) mod perm {
    pub const POLICY_READ_ALL: &str = "Policy.Read.All";
    pub const POLICY_RW_AUTH: &str = "Policy.ReadWrite.AuthenticationMethod";
    pub const UAM_READ_ALL: &str = "UserAuthenticationMethod.Read.All";
    pub const UAM_RW_ALL: &str = "UserAuthenticationMethod.ReadWrite.All";
    pub const UAM_RW: &str = "UserAuthenticationMethod.ReadWrite";
    pub const UAM_READ: &str = "UserAuthenticationMethod.Read";
    pub const USER_READ: &str = "User.Read";
    pub const USER_READ_ALL: &str = "User.Read.All";
    pub const USER_READBASIC_ALL: &str = "User.ReadBasic.All";
    pub const DIRECTORY_READ_ALL: &str = "Directory.Read.All";
}

/// Delegated scopes a user may consent to for themselves (the others need
/// an administrator's consent, as Microsoft marks them).
pub(crate) const USER_CONSENTABLE: &[&str] = &[perm::USER_READ, perm::USER_READBASIC_ALL];

use perm::{
    DIRECTORY_READ_ALL, POLICY_READ_ALL, POLICY_RW_AUTH, UAM_READ, UAM_READ_ALL, UAM_RW,
    UAM_RW_ALL, USER_READ_ALL, USER_READBASIC_ALL,
};

/// What a request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    /// List or read the token inventory.
    ReadDevices,
    /// Create, update or delete tokens in the inventory.
    WriteDevices,
    /// List or read users.
    ReadUsers,
    /// Read a user's hardware OATH methods.
    ReadMethods,
    /// Assign, activate, deactivate or unassign a user's tokens.
    WriteMethods,
    /// Check (and spend) a user's code: `POST /api/otp/check`.
    CheckCode,
    /// Read token clocks and locks: `GET /api/tokens*`, `GET /api/locks`.
    ReadTokenStates,
    /// Clear a token's or a user's code lock.
    ClearLock,
}

struct Rule {
    /// Application permissions or delegated scopes, any one of which does.
    grants: &'static [&'static str],
    /// Directory roles, any one of which does (with Global Administrator);
    /// empty: none needed.
    roles: &'static [&'static str],
    /// Whether Microsoft's target rule applies (changing another's methods).
    targets: bool,
}

const READ_DEVICES: Rule = Rule {
    grants: &[POLICY_READ_ALL, POLICY_RW_AUTH],
    roles: &[
        role::GLOBAL_READER,
        role::AUTHENTICATION_POLICY_ADMINISTRATOR,
    ],
    targets: false,
};
const WRITE_DEVICES: Rule = Rule {
    grants: &[POLICY_RW_AUTH],
    roles: &[role::AUTHENTICATION_POLICY_ADMINISTRATOR],
    targets: false,
};
const READ_USERS: Rule = Rule {
    grants: &[USER_READ_ALL, USER_READBASIC_ALL, DIRECTORY_READ_ALL],
    roles: &[],
    targets: false,
};
const READ_OWN_USER: Rule = Rule {
    grants: &[
        perm::USER_READ,
        USER_READ_ALL,
        USER_READBASIC_ALL,
        DIRECTORY_READ_ALL,
    ],
    roles: &[],
    targets: false,
};
const READ_OWN_METHODS: Rule = Rule {
    grants: &[UAM_READ, UAM_RW, UAM_READ_ALL, UAM_RW_ALL],
    roles: &[],
    targets: false,
};
const READ_METHODS: Rule = Rule {
    grants: &[UAM_READ_ALL, UAM_RW_ALL],
    roles: &[
        role::GLOBAL_READER,
        role::AUTHENTICATION_ADMINISTRATOR,
        role::PRIVILEGED_AUTHENTICATION_ADMINISTRATOR,
    ],
    targets: false,
};
const WRITE_OWN_METHODS: Rule = Rule {
    grants: &[UAM_RW, UAM_RW_ALL],
    roles: &[],
    targets: false,
};
const WRITE_METHODS: Rule = Rule {
    grants: &[UAM_RW_ALL],
    roles: &[
        role::AUTHENTICATION_ADMINISTRATOR,
        role::PRIVILEGED_AUTHENTICATION_ADMINISTRATOR,
    ],
    targets: true,
};
const CHECK_CODE: Rule = Rule {
    grants: &[UAM_READ_ALL, UAM_RW_ALL],
    roles: &[
        role::AUTHENTICATION_ADMINISTRATOR,
        role::PRIVILEGED_AUTHENTICATION_ADMINISTRATOR,
    ],
    targets: true,
};
const READ_TOKEN_STATES: Rule = Rule {
    grants: &[POLICY_READ_ALL, POLICY_RW_AUTH, UAM_READ_ALL, UAM_RW_ALL],
    roles: &[
        role::GLOBAL_READER,
        role::AUTHENTICATION_POLICY_ADMINISTRATOR,
        role::AUTHENTICATION_ADMINISTRATOR,
        role::PRIVILEGED_AUTHENTICATION_ADMINISTRATOR,
    ],
    targets: false,
};
const CLEAR_LOCK: Rule = Rule {
    grants: &[UAM_RW_ALL],
    roles: &[
        role::AUTHENTICATION_ADMINISTRATOR,
        role::PRIVILEGED_AUTHENTICATION_ADMINISTRATOR,
    ],
    targets: true,
};

/// The rule of `op`; `own`: a signed-in user acting on themselves.
fn rule(op: Operation, own: bool) -> &'static Rule {
    match op {
        Operation::ReadDevices => &READ_DEVICES,
        Operation::WriteDevices => &WRITE_DEVICES,
        Operation::ReadUsers if own => &READ_OWN_USER,
        Operation::ReadUsers => &READ_USERS,
        Operation::ReadMethods if own => &READ_OWN_METHODS,
        Operation::ReadMethods => &READ_METHODS,
        Operation::WriteMethods if own => &WRITE_OWN_METHODS,
        Operation::WriteMethods => &WRITE_METHODS,
        Operation::CheckCode => &CHECK_CODE,
        Operation::ReadTokenStates => &READ_TOKEN_STATES,
        Operation::ClearLock => &CLEAR_LOCK,
    }
}

/// Roles whose holders an Authentication Administrator may still manage
/// (Microsoft's "Who can reset passwords" table, which the Authentication
/// Administrator's description points to for authentication methods): no
/// role, or only these. Anyone else — holders of Global Administrator,
/// Privileged Authentication Administrator, Authentication Policy
/// Administrator, Global Reader or any other role — only a Privileged
/// Authentication Administrator or a Global Administrator may manage.
const AUTHENTICATION_ADMINISTRATOR_MANAGES: &[&str] = &[
    role::AUTHENTICATION_ADMINISTRATOR,
    // Directory Readers.
    "88d8e3e3-8f55-4a1e-953a-9b9898b8876b",
    // Password Administrator.
    "966707d0-3269-4727-9be2-8c3a10f19b9d",
];

/// Whether a signed-in user holding `actor` roles may change the methods of
/// a user holding `target` roles.
#[must_use]
pub(crate) fn may_manage(actor: &[String], target: &[String]) -> bool {
    let holds = |r: &str| actor.iter().any(|a| a == r);
    if holds(role::GLOBAL_ADMINISTRATOR) || holds(role::PRIVILEGED_AUTHENTICATION_ADMINISTRATOR) {
        return true;
    }
    holds(role::AUTHENTICATION_ADMINISTRATOR)
        && target
            .iter()
            .all(|r| AUTHENTICATION_ADMINISTRATOR_MANAGES.contains(&r.as_str()))
}

/// Whether a user holding `roles` could use the delegated `scope` on
/// anything: scopes for oneself and for reading users need no role; the
/// others need a role of an operation they serve.
#[must_use]
pub(crate) fn scope_allowed(scope: &str, roles: &[String]) -> bool {
    // For oneself (the `.All` scopes reach oneself too, but hold nothing a
    // user without a role could use that these do not) and reading users.
    if [UAM_READ, UAM_RW, perm::USER_READ].contains(&scope) || READ_USERS.grants.contains(&scope) {
        return true;
    }
    // The least-privileged roles the operations name for each scope.
    let needs: &[&str] = match scope {
        POLICY_READ_ALL => READ_DEVICES.roles,
        POLICY_RW_AUTH => WRITE_DEVICES.roles,
        UAM_READ_ALL => READ_METHODS.roles,
        UAM_RW_ALL => WRITE_METHODS.roles,
        _ => return false,
    };
    roles
        .iter()
        .any(|r| r == role::GLOBAL_ADMINISTRATOR || needs.contains(&r.as_str()))
}

fn denied(message: &str) -> GraphError {
    GraphError::new(
        StatusCode::FORBIDDEN,
        "Authorization_RequestDenied",
        message,
    )
}

impl Principal {
    /// `Ok` when the caller holds a permission that could allow `op` on
    /// someone (checked before looking the target up, so that a caller
    /// without it learns nothing of who exists).
    pub(crate) fn may_try(&self, op: Operation) -> Result<(), GraphError> {
        let holds = |r: &Rule| self.grants.iter().any(|g| r.grants.contains(&g.as_str()));
        if holds(rule(op, false)) || (self.user.is_some() && holds(rule(op, true))) {
            Ok(())
        } else {
            Err(denied("Insufficient privileges to complete the operation."))
        }
    }

    /// `Ok` when the caller may do `op` (on `target`, the user it acts on,
    /// when there is one); `403 Authorization_RequestDenied` otherwise.
    pub(crate) fn allow(&self, op: Operation, target: Option<&User>) -> Result<(), GraphError> {
        let own = matches!((&self.user, target), (Some(me), Some(t)) if *me == t.id);
        let r = rule(op, own);
        if !self.grants.iter().any(|g| r.grants.contains(&g.as_str())) {
            return Err(denied("Insufficient privileges to complete the operation."));
        }
        if self.user.is_none() || own {
            return Ok(());
        }
        let global = self.wids.iter().any(|w| w == role::GLOBAL_ADMINISTRATOR);
        if !r.roles.is_empty()
            && !global
            && !self.wids.iter().any(|w| r.roles.contains(&w.as_str()))
        {
            return Err(denied(
                "Insufficient privileges to complete the operation: the signed-in user needs a directory role for it.",
            ));
        }
        if r.targets
            && let Some(t) = target
            && !may_manage(&self.wids, &t.roles)
        {
            return Err(denied(
                "Insufficient privileges to complete the operation: the signed-in user's role cannot manage the authentication methods of this user.",
            ));
        }
        Ok(())
    }

    /// Who the caller is, for the audit log: `user:<UPN>` or `app:<client id>`.
    #[must_use]
    pub(crate) fn actor(&self) -> String {
        match (&self.user, &self.upn) {
            (Some(_), Some(upn)) => format!("user:{upn}"),
            (Some(id), None) => format!("user:{id}"),
            (None, _) => format!("app:{}", self.app),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles(r: &[&str]) -> Vec<String> {
        r.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn whose_methods_each_role_may_manage() {
        let aa = roles(&[role::AUTHENTICATION_ADMINISTRATOR]);
        let paa = roles(&[role::PRIVILEGED_AUTHENTICATION_ADMINISTRATOR]);
        let ga = roles(&[role::GLOBAL_ADMINISTRATOR]);
        let apa = roles(&[role::AUTHENTICATION_POLICY_ADMINISTRATOR]);
        let gr = roles(&[role::GLOBAL_READER]);
        let none = roles(&[]);
        assert!(may_manage(&aa, &none));
        assert!(may_manage(&aa, &aa), "another Authentication Administrator");
        for admin in [&paa, &ga, &apa, &gr] {
            assert!(!may_manage(&aa, admin), "{admin:?}");
            assert!(may_manage(&paa, admin));
            assert!(may_manage(&ga, admin));
        }
        assert!(
            !may_manage(&apa, &none),
            "a policy administrator manages no one's methods"
        );
        assert!(!may_manage(&gr, &none));
        assert!(!may_manage(&none, &none));
    }

    #[test]
    fn scopes_a_user_may_carry() {
        let none = roles(&[]);
        for s in [
            UAM_READ,
            UAM_RW,
            perm::USER_READ,
            USER_READ_ALL,
            DIRECTORY_READ_ALL,
        ] {
            assert!(scope_allowed(s, &none), "{s}");
        }
        for s in [POLICY_READ_ALL, POLICY_RW_AUTH, UAM_READ_ALL, UAM_RW_ALL] {
            assert!(!scope_allowed(s, &none), "{s}");
            assert!(
                scope_allowed(s, &roles(&[role::GLOBAL_ADMINISTRATOR])),
                "{s}"
            );
        }
        let gr = roles(&[role::GLOBAL_READER]);
        assert!(scope_allowed(POLICY_READ_ALL, &gr) && scope_allowed(UAM_READ_ALL, &gr));
        assert!(!scope_allowed(POLICY_RW_AUTH, &gr) && !scope_allowed(UAM_RW_ALL, &gr));
        let apa = roles(&[role::AUTHENTICATION_POLICY_ADMINISTRATOR]);
        assert!(scope_allowed(POLICY_RW_AUTH, &apa) && !scope_allowed(UAM_RW_ALL, &apa));
    }
}
