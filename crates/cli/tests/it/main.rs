//! The integration tests of the `oathvault` binary, in one test binary (one
//! link instead of one per file): each file beside this one is a module.

mod api;
mod backup;
mod cli;
mod custody;
mod delivery;
mod demo;
mod deploy;
mod directory;
mod entra;
mod listing;
mod portal;
mod portal_crash;
mod proxy;
mod pskc_seeds;
mod rotation;
mod shell;
