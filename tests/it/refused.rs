//! S7: a refused request changes nothing.
