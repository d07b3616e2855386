//! kafka (being written).
