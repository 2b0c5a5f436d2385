//! Referral link objects (spec §8.1) and the `:domains` items of §8.2.

use referd_core::partner::PartnerLink;
use referd_core::program::Program;
use referd_core::service::partner_links::LinkDomain;
use serde::Serialize;

#[derive(Serialize)]
pub struct LinkObject<'a> {
    /// A link's id is its key, as in every Partnero example.
    id: &'a str,
    key: &'a str,
    url: Option<String>,
    default: bool,
    is_additional: bool,
    direct_tracking: bool,
    direct_tracking_redirect: bool,
    direct_tracking_redirect_url: Option<()>,
}

pub fn link<'a>(program: &Program, l: &'a PartnerLink) -> LinkObject<'a> {
    of_key(program, &l.key, l.is_default)
}

/// A link object for any link by its key (customer links share the shape, spec §8.1).
pub fn of_key<'a>(program: &Program, key: &'a str, is_default: bool) -> LinkObject<'a> {
    LinkObject {
        id: key,
        key,
        url: program.referral_link(key),
        default: is_default,
        is_additional: false,
        direct_tracking: false,
        direct_tracking_redirect: false,
        direct_tracking_redirect_url: None,
    }
}

#[derive(Serialize)]
pub struct DomainObject<'a> {
    /// `null` for the program's own domain, as Partnero shows it.
    id: Option<()>,
    domain: &'a str,
    url: &'a str,
    is_additional: bool,
}

pub fn domain(d: &LinkDomain) -> DomainObject<'_> {
    DomainObject {
        id: None,
        domain: &d.domain,
        url: &d.url,
        is_additional: false,
    }
}
