//! The access policy: who may read what, and why.
//!
//! Readers are computed from the source when a document is stored (the
//! file's readers, and the sender and recipients of a mail) and stored with
//! every chunk; what a *user* may read is decided at query time by
//! expanding the user into their tenant and every group, room or share they
//! belong to (`Workspace::pass_for`). So a membership change takes effect on
//! the next query and a change of a file's readers updates the indexes in
//! place: nothing is re-embedded.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use twake_index::{DocAccess, Grant, Membership};
use twake_types::{AccessPass, Document, Principal, Sensitivity, Tenant};

use crate::{CoreError, Result, Workspace};

/// The readers of one document: the file's readers (reason `readers`) and,
/// for a mail, its participants (reason `from`, `to`, `cc`, `bcc`).
pub fn grants(doc: &Document, readers: &[Principal], mail_participants: bool) -> Vec<Grant> {
    let mut out: Vec<Grant> =
        readers.iter().map(|p| Grant { principal: p.clone(), reason: "readers".into() }).collect();
    if mail_participants {
        for part in &doc.participants {
            if let Ok(p) = Principal::parse(&part.address) {
                out.push(Grant { principal: p, reason: part.role.as_str().into() });
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// What a user can reach, for administrators (`access report`).
#[derive(Debug, Clone)]
pub struct AccessReport {
    pub user: Principal,
    pub tenant: Tenant,
    /// Every container the user acts as, with the membership chain.
    pub member_of: BTreeMap<Principal, Vec<Principal>>,
    pub groups: Vec<ReportGroup>,
    pub documents: usize,
}

/// Readable documents of one source (a folder of files) of one kind and
/// sensitivity.
#[derive(Debug, Clone)]
pub struct ReportGroup {
    pub source: String,
    pub kind: String,
    pub sensitivity: Sensitivity,
    pub documents: usize,
    pub files: usize,
    /// How many of these documents each of the user's principals opens
    /// (`principal (reason)`).
    pub granted_by: BTreeMap<String, usize>,
}

/// Why a user can or cannot read each document of a file (`access explain`).
#[derive(Debug, Clone)]
pub struct Explanation {
    pub user: Principal,
    pub tenant: Tenant,
    pub path: String,
    pub documents: Vec<DocExplanation>,
}

#[derive(Debug, Clone)]
pub struct DocExplanation {
    pub title: String,
    pub tenant: String,
    pub sensitivity: Sensitivity,
    pub sensitivity_reasons: Vec<String>,
    pub readable: bool,
    /// The grants that open it to the user, each with the membership chain
    /// from the user to the granted principal.
    pub because: Vec<(Grant, Vec<Principal>)>,
    /// Every grant of the document.
    pub grants: Vec<Grant>,
}

impl Workspace {
    /// The access pass of a user: their tenant, themselves and every
    /// container they belong to, read from the store now (so a membership
    /// change applies to the next request; nothing is cached).
    pub async fn pass_for(&self, user: &Principal) -> Result<AccessPass> {
        let dir = self.store.directory_for(user).await?;
        Ok(AccessPass::for_user(&dir, user.clone()))
    }

    /// The tenant a user belongs to.
    pub async fn tenant_of(&self, user: &Principal) -> Result<Tenant> {
        Ok(self.store.directory_for(user).await?.tenant_of(user))
    }

    /// Adds `member` (a user or a container) to `container` in the tenant.
    pub async fn add_member(&self, tenant: &Tenant, container: &Principal, member: &Principal) -> Result<bool> {
        if container.kind() == twake_types::PrincipalKind::User && container.domain().is_none() {
            return Err(CoreError::Config(format!(
                "{container} cannot have members: name a group (group:NAME), a room (room:ID), a share (share:NAME) or a list address"
            )));
        }
        if container == member {
            return Err(CoreError::Config(format!("{container} cannot be a member of itself")));
        }
        Ok(self.store.add_member(tenant, container, member).await?)
    }

    pub async fn remove_member(&self, tenant: &Tenant, container: &Principal, member: &Principal) -> Result<bool> {
        Ok(self.store.remove_member(tenant, container, member).await?)
    }

    pub async fn memberships(&self) -> Result<Vec<Membership>> {
        Ok(self.store.memberships().await?)
    }

    /// Users of `domain` belong to `tenant` from the next request on.
    pub async fn set_tenant_domain(&self, domain: &str, tenant: &Tenant) -> Result<()> {
        let domain = domain.trim().trim_start_matches('@');
        if domain.is_empty() || domain.contains(['/', ' ', ',', '@']) {
            return Err(CoreError::Config(format!("invalid domain {domain:?}: give a mail domain, e.g. valmont.fr")));
        }
        Ok(self.store.set_tenant_domain(domain, tenant).await?)
    }

    pub async fn tenant_domains(&self) -> Result<Vec<(String, String)>> {
        Ok(self.store.tenant_domains().await?)
    }

    /// Everything a user can reach, grouped by source.
    pub async fn access_report(&self, user: &Principal) -> Result<AccessReport> {
        let dir = self.store.directory_for(user).await?;
        let pass = AccessPass::for_user(&dir, user.clone());
        let tenant = dir.tenant_of(user);
        let member_of = dir.memberships(&tenant, user);
        let acts_as = pass.principals().cloned().unwrap_or_default();
        let docs = self.store.readable_documents(&pass).await?;
        let mut groups: BTreeMap<(String, String, Sensitivity), (ReportGroup, BTreeSet<String>)> = BTreeMap::new();
        for d in &docs {
            let source = PathBuf::from(&d.path).parent().map(|p| p.display().to_string()).unwrap_or_default();
            let key = (source.clone(), d.kind.clone(), d.sensitivity);
            let (g, files) = groups.entry(key).or_insert_with(|| {
                (
                    ReportGroup {
                        source,
                        kind: d.kind.clone(),
                        sensitivity: d.sensitivity,
                        documents: 0,
                        files: 0,
                        granted_by: BTreeMap::new(),
                    },
                    BTreeSet::new(),
                )
            });
            g.documents += 1;
            files.insert(d.path.clone());
            for gr in d.grants.iter().filter(|gr| acts_as.contains(&gr.principal)) {
                *g.granted_by.entry(format!("{} ({})", gr.principal, gr.reason)).or_default() += 1;
            }
        }
        let groups = groups.into_values().map(|(g, files)| ReportGroup { files: files.len(), ..g }).collect();
        Ok(AccessReport { user: user.clone(), tenant, member_of, groups, documents: docs.len() })
    }

    /// Why `user` can or cannot read each document of the file at `path`.
    pub async fn explain(&self, user: &Principal, path: &str) -> Result<Option<Explanation>> {
        let docs: Vec<DocAccess> = self.store.file_documents(path).await?;
        if docs.is_empty() {
            return Ok(None);
        }
        let dir = self.store.directory_for(user).await?;
        let tenant = dir.tenant_of(user);
        let chains = dir.memberships(&tenant, user);
        let documents = docs
            .into_iter()
            .map(|d| {
                let same_tenant = d.tenant == tenant.as_str();
                let because: Vec<(Grant, Vec<Principal>)> = d
                    .grants
                    .iter()
                    .filter(|_| same_tenant)
                    .filter_map(|g| {
                        if &g.principal == user {
                            Some((g.clone(), vec![user.clone()]))
                        } else {
                            chains.get(&g.principal).map(|c| (g.clone(), c.clone()))
                        }
                    })
                    .collect();
                DocExplanation {
                    title: d.title,
                    tenant: d.tenant,
                    sensitivity: d.sensitivity,
                    sensitivity_reasons: d.sensitivity_reasons,
                    readable: !because.is_empty(),
                    because,
                    grants: d.grants,
                }
            })
            .collect();
        Ok(Some(Explanation { user: user.clone(), tenant, path: path.to_string(), documents }))
    }

    /// Every user the store knows of (readers, members, key owners).
    pub async fn known_users(&self) -> Result<Vec<Principal>> {
        Ok(self.store.known_users().await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use twake_types::{Participant, Role, SourceKind};

    #[test]
    fn mail_participants_become_readers_with_their_role() {
        let p = |s: &str| Principal::parse(s).unwrap();
        let doc = Document {
            participants: vec![
                Participant { role: Role::From, address: "rh@x.fr".into() },
                Participant { role: Role::To, address: "bob@x.fr".into() },
            ],
            ..Document::new(SourceKind::Mail, "t", "")
        };
        let g = grants(&doc, &[p("bob@x.fr")], true);
        let got: Vec<String> = g.iter().map(|g| format!("{} {}", g.principal, g.reason)).collect();
        assert_eq!(got, ["bob@x.fr readers", "bob@x.fr to", "rh@x.fr from"]);
        assert_eq!(grants(&doc, &[p("bob@x.fr")], false).len(), 1);
    }
}
