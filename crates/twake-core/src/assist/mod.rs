//! The assistants, one module each: meeting minutes (`minutes`), mail
//! thread summaries (`thread`), rewriting and reply drafts (`writing`),
//! inbox triage (`triage`), the daily brief (`brief`), room catch-up
//! (`catchup`) and the tools the chat can call (`tools`).
//! Every assistant runs its generations as tasks on the model gateway
//! (`task`), so routing, pseudonymisation, quotas and provenance apply the
//! same way as for answers; `support` checks each item against its material.

pub mod brief;
pub mod catchup;
pub mod minutes;
pub mod support;
pub mod task;
pub mod thread;
pub mod tools;
pub mod triage;
pub mod writing;
