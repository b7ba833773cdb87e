//! What users keep of their use of the assistant: their conversations
//! (`conversations`: turns, titles, the sources each answer cited) and their
//! ratings of answers (`feedback`, tied to the answer's provenance record).

pub mod conversations;
pub mod feedback;
