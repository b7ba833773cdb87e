//! Finding and answering: hybrid search over the caller's readable passages
//! (`search`), grounded answers whose every citation is checked (`answer`),
//! the facts (dates, amounts, names) an answer must keep (`facts`), and the
//! canary that proves a planted secret stays unseen (`canary`).

pub mod answer;
pub mod canary;
pub mod facts;
pub mod search;
